"""Web and deployment, tried as an attacker would from a browser or the network.

- Every page, asset and API answer carries the security headers: a Content-Security-Policy
  without `unsafe-inline` (a script injected into a page cannot run, an outside script or
  image cannot load, the page cannot be framed), nosniff, a Referrer-Policy; HSTS only over HTTPS.
- The AsyncAPI page loads nothing from another origin (it used to pull a viewer from a CDN).
- An article body, written by an editor or imported from an outside feed, cannot make a
  reader's browser fetch an outside image (a tracking pixel telling an outsider who reads what).
- NATS clients speak TLS where the deployment says so, and refuse a server they cannot verify.
"""

from __future__ import annotations

import asyncio
import datetime
import re
import signal
import ssl
import subprocess
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import httpx
import nats.errors
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from services.content.domain.feeds import parse_feed
from sotay.kit.embedded import terminate, wait_for_port, free_port, nats_server_binary
from sotay.kit.pages import PAGES
from sotay.kit.service import connect_nats
from sotay.kit.settings import Settings
from tests.attacks.tally import count

pytestmark = pytest.mark.integration

CSP = ("default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
       "frame-ancestors 'none'")
SERVICES = ("members", "identity", "content", "metrics", "webhooks")


def get(world, path: str, **kw) -> httpx.Response:
    count("web and deployment requests tried")
    return httpx.get(world.base_url + path, timeout=30, **kw)


def assert_security_headers(response: httpx.Response, where: str) -> None:
    headers = response.headers
    assert headers.get("content-security-policy") == CSP, f"{where}: CSP {headers.get('content-security-policy')!r}"
    assert "unsafe-inline" not in headers["content-security-policy"]
    assert headers.get("x-content-type-options") == "nosniff", where
    assert headers.get("referrer-policy") == "same-origin", where
    # Plain HTTP: a Strict-Transport-Security header here would mean nothing, or lie.
    assert "strict-transport-security" not in headers, where


# --- security headers ---------------------------------------------------------------


def test_every_page_asset_and_api_answer_carries_the_security_headers(world):
    member = world.member_auth("an")
    paths = {path: {} for path in PAGES}
    paths.update({"/assets/sotay.css": {}, "/assets/common.js": {}, "/healthz": {}, "/readyz": {},
                  "/sw.js": {}, "/manifest.webmanifest": {}, "/icons/icon-192.png": {}})
    for service in SERVICES:
        paths.update({f"/api/{service}/v1/healthz": {}, f"/api/{service}/v1/openapi.json": {},
                      f"/api/{service}/v1/asyncapi": {}, f"/api/{service}/v1/asyncapi.html": {}})
    paths.update({
        "/api/content/v1/feed": member,                       # a signed-in member's JSON
        "/api/members/v1/members": {},                        # 401 problem
        "/api/members/v1/nowhere": {},                        # 404 problem
        "/api/content/v1/feed?limit=nonsense": member,       # 422 problem
        f"/api/content/v1/articles/{world.ids['article_ba-dinh']}": member,
    })
    for path, headers in paths.items():
        response = get(world, path, headers=headers)
        assert response.status_code < 500, (path, response.status_code)
        assert_security_headers(response, path)


def test_a_refused_oversized_body_carries_them_too(world):
    response = httpx.post(world.base_url + "/api/members/v1/members", content=b"x" * (3 * 2**20),
                          headers={"Content-Type": "application/json"}, timeout=30)
    assert response.status_code == 413
    assert_security_headers(response, "413")


def test_hsts_is_sent_only_over_https(world):
    """Over HTTPS (TLS at uvicorn, or a trusted proxy's X-Forwarded-Proto: https, which uvicorn turns
    into the request's scheme) the browser is told to keep to HTTPS; never over plain HTTP."""
    app = world.system.app

    async def over(scheme: str) -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=f"{scheme}://sotay.test") as c:
            return await c.get("/api/members/v1/healthz")
    secure, plain = world.run(over("https")), world.run(over("http"))
    assert secure.headers.get("strict-transport-security") == "max-age=31536000"
    assert "strict-transport-security" not in plain.headers
    assert secure.headers["content-security-policy"] == CSP


# --- the AsyncAPI page ------------------------------------------------------------------


class References(HTMLParser):
    """Every URL a page makes the browser load or follow, and its inline code."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline: list[str] = []
        self._in: str | None = None

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in ("src", "href", "srcset", "action", "poster", "data", "background") and value:
                self.urls.append(value)
            if name == "style" or name.startswith("on"):
                self.inline.append(f"{tag} {name}")
        if tag in ("script", "style"):
            self._in = tag

    def handle_data(self, data):
        if self._in and data.strip():
            self.inline.append(f"<{self._in}> {data[:60]}")

    def handle_endtag(self, tag):
        self._in = None


def same_origin(url: str) -> bool:
    url = url.strip()
    return not re.match(r"^([a-zA-Z][a-zA-Z0-9+.-]*:|[/\\]{2})", url)


@pytest.mark.parametrize("service", SERVICES)
def test_the_asyncapi_page_loads_nothing_from_another_origin(world, service):
    page = get(world, f"/api/{service}/v1/asyncapi.html")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    refs = References()
    refs.feed(page.text)
    assert not [u for u in refs.urls if not same_origin(u)], f"outside references: {refs.urls}"
    assert not refs.inline, f"inline code the CSP refuses: {refs.inline}"
    assert "cdn" not in page.text.lower()
    # The viewer is the service's own: its stylesheet comes from the service, and it shows every event.
    stylesheets = [u for u in refs.urls if u.endswith(".css")]
    assert stylesheets
    for url in stylesheets:
        css = get(world, url if url.startswith("/") else f"/api/{service}/v1/{url}")
        assert css.status_code == 200 and css.headers["content-type"].startswith("text/css"), url
        assert not re.search(r"url\(\s*['\"]?(https?:|//)", css.text), "the stylesheet loads from elsewhere"
        assert_security_headers(css, url)
    events = get(world, f"/api/{service}/v1/events").json()
    assert events or service == "webhooks"  # the webhook bridge publishes no events
    for event in events:
        assert event["type"] in page.text and event["subject"].split(".")[2] in page.text, event["type"]


# --- outside images in article bodies ----------------------------------------------------

OUTSIDE = [
    '<img src="https://evil.example/pixel.png" alt="tin">',
    '<img src="http://evil.example/pixel.png">',
    '<img src="//evil.example/pixel.png">',
    '<img src="  //evil.example/pixel.png">',
    '<img src="/\\evil.example/pixel.png">',
    '<img src="\\\\evil.example/pixel.png">',
    '<img src="ht&#x74;ps://evil.example/pixel.png">',
    '<img src="https://evil.example/a.png" srcset="https://evil.example/b.png 2x">',
    '<table background="https://evil.example/bg.png"><tr><td background="https://evil.example/td.png">x</td></tr>'
    '</table>',
    '<div style="background:url(https://evil.example/div.png)">x</div>',
    '<picture><source srcset="https://evil.example/s.png"><img src="/ok.png"></picture>',
    '<video poster="https://evil.example/p.png"></video><audio src="https://evil.example/a.mp3"></audio>',
    '<svg><image href="https://evil.example/svg.png"/></svg>',
    '<link rel="stylesheet" href="https://evil.example/x.css">',
    '<iframe src="https://evil.example/frame"></iframe>',
]
INSIDE = ['<img src="/api/content/v1/documents/1/file" alt="own">', '<img src="anh/hinh.png" alt="relative">',
          '<img src="data:image/png;base64,iVBORw0KGgo=" alt="inline">']


def article(world, body: str, body_format: str) -> dict:
    editor = world.auth("editor", "ba-dinh")
    created = httpx.post(world.base_url + "/api/content/v1/articles", headers=editor, timeout=30, json={
        "title": "Ảnh minh hoạ", "body": body, "body_format": body_format, "category": "news",
        "audience": ["ba-dinh"]})
    count("web and deployment requests tried")
    assert created.status_code == 201, created.text
    return created.json()


@pytest.mark.parametrize("body_format", ["html", "markdown"])
def test_an_article_body_cannot_make_a_reader_fetch_an_outside_image(world, body_format):
    body = "\n\n".join(["Nội dung có ảnh.", *OUTSIDE, *INSIDE])
    if body_format == "markdown":
        body += "\n\n![ảnh](https://evil.example/md.png) và ![ảnh](<//evil.example/md2.png>)"
    created = article(world, body, body_format)
    stored = get(world, f"/api/content/v1/articles/{created['id']}", headers=world.auth("editor", "ba-dinh")).json()
    html = stored["body_html"]
    assert "evil.example" not in html, html
    assert "Nội dung có ảnh." in html
    # Images of the site itself, and inline (data:) ones, stay: the CSP allows them.
    for kept in ('src="/api/content/v1/documents/1/file"', 'src="anh/hinh.png"', 'src="data:image/png;base64,'):
        assert kept in html, (kept, html)


def test_an_imported_feed_entry_cannot_make_a_reader_fetch_an_outside_image():
    """What the importer stores is parse_feed's sanitised body: relative URLs in an entry are made
    absolute against the feed's own address, so even the feed site's images are outside ones."""
    items = "".join(f"<p>{snippet}</p>" for snippet in OUTSIDE)
    rss = (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Tin</title>'
           f'<link>https://hanoi.example/</link><item><title>Tin có ảnh</title><guid>t1</guid>'
           f'<link>https://hanoi.example/t1</link><description><![CDATA[<p>Tóm tắt</p>'
           f'<img src="https://evil.example/summary.png">]]></description>'
           f'<content:encoded xmlns:content="http://purl.org/rss/1.0/modules/content/"><![CDATA[{items}'
           f'<img src="/images/own-site.png">]]></content:encoded></item></channel></rss>')
    _, entries = parse_feed(rss.encode(), url="https://hanoi.example/rss")
    (entry,) = entries
    assert "evil.example" not in entry.body_html and "<img" not in entry.summary, entry.body_html
    assert "hanoi.example/images" not in entry.body_html


# --- NATS over TLS ----------------------------------------------------------------------


def _certificate(subject: str, key, issuer_name, issuer_key, *, ca: bool, names: list[str] = ()):
    now = datetime.datetime.now(datetime.UTC)
    builder = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
               .issuer_name(issuer_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def throwaway_ca(directory: Path, name: str) -> tuple[Path, object, object]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = _certificate(name, key, subject, key, ca=True)
    path = directory / f"{name}.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path, cert, key


def write_key(path: Path, key) -> Path:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    return path


@dataclass
class TlsNats:
    port: int
    ca: Path
    client_cert: Path
    client_key: Path


def start_tls_nats(directory: Path, *, verify_clients: bool) -> tuple[subprocess.Popen, TlsNats]:
    """A real nats-server requiring TLS, with a server certificate (for localhost) of a throwaway
    CA; with `verify_clients`, it also requires a client certificate of that CA."""
    directory.mkdir(parents=True)
    ca_path, ca_cert, ca_key = throwaway_ca(directory, "sotay-test-ca")
    files = {}
    for name, names in (("server", ["localhost"]), ("client", [])):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _certificate(name, key, ca_cert.subject, ca_key, ca=False, names=names)
        (directory / f"{name}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        files[name] = (directory / f"{name}.pem", write_key(directory / f"{name}-key.pem", key))
    port = free_port()
    verify = f'  ca_file: "{ca_path}"\n  verify: true\n' if verify_clients else ""
    config = directory / "nats.conf"
    config.write_text(f'port: {port}\nhost: "127.0.0.1"\n'
                      f'tls {{\n  cert_file: "{files["server"][0]}"\n  key_file: "{files["server"][1]}"\n'
                      f'{verify}  timeout: 5\n}}\n')
    process = subprocess.Popen([nats_server_binary(), "--config", str(config), "-l", str(directory / "nats.log")],
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    wait_for_port(port, 15, process)
    return process, TlsNats(port, ca_path, *files["client"])


@pytest.fixture
def tls_nats(tmp_path):
    process, server = start_tls_nats(tmp_path / "tls", verify_clients=False)
    yield server
    terminate(process, signal.SIGTERM, 10)


@pytest.fixture
def mutual_tls_nats(tmp_path):
    process, server = start_tls_nats(tmp_path / "mtls", verify_clients=True)
    yield server
    terminate(process, signal.SIGTERM, 10)


# Refused connections fail at once: no retries, no reconnection.
ONCE = {"allow_reconnect": False, "max_reconnect_attempts": 0, "connect_timeout": 3}


async def _round_trip(nc) -> bytes:
    try:
        sub = await nc.subscribe("sotay.tls.check")
        await nc.publish("sotay.tls.check", b"xin chao")
        return (await sub.next_msg(timeout=5)).data
    finally:
        await nc.close()


async def refused(settings: Settings, url: str) -> BaseException:
    try:
        nc = await asyncio.wait_for(connect_nats(settings, url, **ONCE), 20)
    except (ssl.SSLError, OSError, nats.errors.Error) as exc:
        return exc
    await nc.close()
    raise AssertionError(f"{url} connected with {settings.nats_tls_ca=}")


async def test_nats_clients_speak_tls_with_the_configured_ca_and_refuse_without_it(tls_nats, tmp_path):
    settings = Settings(data_dir=tmp_path, nats_tls_ca=str(tls_nats.ca))
    # The CA alone turns TLS on, whatever the URL's scheme.
    for url in (f"nats://localhost:{tls_nats.port}", f"tls://localhost:{tls_nats.port}"):
        nc = await connect_nats(settings, url, **ONCE)
        assert nc.connected_url.hostname == "localhost"
        assert await _round_trip(nc) == b"xin chao"
    # Without it, the server's certificate is not trusted: nothing connects, no password is sent.
    for url in (f"tls://localhost:{tls_nats.port}", f"nats://localhost:{tls_nats.port}"):
        await refused(Settings(data_dir=tmp_path), url)
    # Another CA's certificate is no better than none, nor is a name the certificate does not carry.
    other, _, _ = throwaway_ca(tmp_path, "someone-else")
    await refused(Settings(data_dir=tmp_path, nats_tls_ca=str(other)), f"tls://localhost:{tls_nats.port}")
    await refused(settings, f"tls://127.0.0.1:{tls_nats.port}")


async def test_a_service_runtime_connects_to_nats_over_tls(tls_nats, tmp_path):
    import services.content
    from sotay.kit.service import ServiceRuntime

    settings = Settings(data_dir=tmp_path, nats_tls_ca=str(tls_nats.ca))
    runtime = ServiceRuntime(services.content.definition(), settings, f"tls://localhost:{tls_nats.port}",
                             "postgresql://unused:unused@127.0.0.1:9/unused")
    try:
        nc = await asyncio.wait_for(runtime.broker.connect(), 20)
        assert nc.is_connected
        assert nc.connected_url.scheme == "tls"
    finally:
        await runtime.broker.stop()
        await runtime.context.engine.dispose()


async def test_mutual_tls_gives_the_client_certificate(mutual_tls_nats, tmp_path):
    """SOTAY_NATS_TLS_CERT and SOTAY_NATS_TLS_KEY: a server that verifies its clients lets in
    the one with a certificate of its CA, and no other."""
    server = mutual_tls_nats
    url = f"tls://localhost:{server.port}"
    await refused(Settings(data_dir=tmp_path, nats_tls_ca=str(server.ca)), url)
    settings = Settings(data_dir=tmp_path, nats_tls_ca=str(server.ca), nats_tls_cert=str(server.client_cert),
                        nats_tls_key=str(server.client_key))
    assert await _round_trip(await connect_nats(settings, url, **ONCE)) == b"xin chao"
