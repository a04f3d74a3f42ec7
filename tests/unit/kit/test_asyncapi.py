from sotay.kit.asyncapi import server_host


def test_the_documented_server_never_carries_credentials():
    assert server_host("nats://members:s3cret@nats-1:4222,nats://members:s3cret@nats-2:4222") == "nats-1:4222"
    assert server_host("tls://nats.sotay.internal:4222") == "nats.sotay.internal:4222"
    assert server_host("127.0.0.1:4222") == "127.0.0.1:4222"
