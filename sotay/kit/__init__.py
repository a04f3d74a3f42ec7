"""The sotay kit: what every service needs (settings, database, events,
outbox relay, inbox consumers, telemetry, tokens, HTTP plumbing) and the
runner that starts one service or all of them."""
