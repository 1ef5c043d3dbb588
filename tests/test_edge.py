"""The HTTP edge over real HTTP to a real waitress server: which Host names it answers to, requests from
other sites' pages refused with nothing stored, the headers on every answer, and a trusted proxy."""
from __future__ import annotations

from dataclasses import replace
import http.client
import json
from urllib.parse import urlsplit

import pytest
import requests

from tests.conftest import fixture_path, load_photo, stored_bytes
from tests.test_more_photos import zipped
from webapp import create_app
from webapp.http.guard import OTHER_POLICY, PAGE_POLICY, HostNames
from tests.support.server_thread import ServerThread

PHOTO = "faces/obama/obama1.jpg"


class Answer:
    def __init__(self, response: http.client.HTTPResponse) -> None:
        self.status = response.status
        self.headers = response.headers
        # An endless stream (what /streaming answers when it is not refused) is not read on.
        endless = self.headers.get_content_type() == "multipart/x-mixed-replace"
        self.body = b"" if endless else response.read()

    def json(self):
        return json.loads(self.body)

    @property
    def error(self) -> str:
        return self.json()["error"]


def send(server, method: str, path: str, *, host=None, headers=None, files=None, json_body=None,
         source: str = "127.0.0.1") -> Answer:
    """One request on a connection of its own, from the source address given, with the Host given
    (default: the server's own address and port)."""
    prepared = requests.Request(method, server.url + path, files=files, json=json_body).prepare()
    sent = {**prepared.headers, **(headers or {})}
    if host is not None:
        sent["Host"] = host
    address = urlsplit(server.url)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=60, source_address=(source, 0))
    try:
        connection.request(method, path, body=prepared.body, headers=sent)
        return Answer(connection.getresponse())
    finally:
        connection.close()


def photo(relative: str = PHOTO) -> dict:
    return {"image": ("face.jpg", fixture_path(relative).read_bytes(), "image/jpeg")}


@pytest.fixture
def barack(analyzer):
    _, vectors = analyzer.embed(load_photo("obama/obama2.jpg"))
    return analyzer.matcher.enroll(vectors[0], "Barack")


def test_a_foreign_host_gets_421_on_every_route_and_changes_nothing(services, live_server, store, barack):
    server = live_server(create_app(services))
    before = stored_bytes(store)
    for method, path, files in [("GET", "/faces", None), ("GET", "/hash", None), ("GET", "/", None),
                                ("GET", "/streaming", None), ("GET", "/static/app.js", None),
                                ("GET", f"/faces/{barack.hash}", None), ("GET", "/no-such-route", None),
                                ("POST", "/register", photo()), ("DELETE", f"/faces/{barack.hash}", None)]:
        for host in ("attacker.example", "attacker.example:8080", "localhost.attacker.example", "127.0.0.1.nip.io"):
            answer = send(server, method, path, host=host, files=files)
            assert answer.status == 421, (method, path, host, answer.status)
            assert host.split(":")[0] in answer.error and "--allowed-hosts" in answer.error
            assert b"Barack" not in answer.body
    assert stored_bytes(store) == before
    for host in ("localhost", f"localhost:{urlsplit(server.url).port}", "LocalHost.", "127.0.0.1", "127.0.0.2:1",
                 "[::1]:8080", None):
        answer = send(server, "GET", "/faces", host=host)
        assert answer.status == 200 and answer.json()["faces"][0]["name"] == "Barack", host


def test_a_request_without_host_or_with_a_malformed_one_is_refused(services, live_server):
    server = live_server(create_app(services))
    address = urlsplit(server.url)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=10)
    connection.putrequest("GET", "/faces", skip_host=True)
    connection.endheaders()
    missing = Answer(connection.getresponse())
    connection.close()
    assert missing.status == 400 and "Host" in missing.error
    for host in ("localhost:http", "[::1", "local host", "::1"):
        assert send(server, "GET", "/faces", host=host).status == 421, host


def test_allowed_hosts_and_a_wildcard_bind(services, live_server):
    named = live_server(create_app(services, hosts=HostNames.for_server("127.0.0.1", ["faces.lan", "10.1.2.3"])))
    for host, status in [("faces.lan", 200), ("FACES.LAN:8443", 200), ("10.1.2.3:80", 200), ("localhost", 200),
                         ("other.lan", 421), ("10.1.2.4", 421), ("lan", 421)]:
        assert send(named, "GET", "/faces", host=host).status == status, host
    # On every address: any address is taken (no one's DNS answers for an address), names only if listed.
    anywhere = live_server(create_app(services, hosts=HostNames.for_server("0.0.0.0")))
    for host, status in [("192.168.1.5:8080", 200), ("[fd00::5]", 200), ("localhost", 200),
                         ("faces.lan", 421), ("rebind.attacker.example", 421)]:
        assert send(anywhere, "GET", "/faces", host=host).status == status, host


STATE_CHANGES = [("POST", "/register", lambda: photo(), None), ("POST", "/enroll", lambda: photo(), None),
                 ("POST", "/signup", lambda: photo(), None), ("POST", "/signin", lambda: photo(), None),
                 ("POST", "/login", lambda: photo(), None),
                 ("POST", "/people/import", lambda: {"zip": ("p.zip", zipped({"Ada/1.jpg": photo()["image"][1]}),
                                                               "application/zip")}, None),
                 ("DELETE", "/faces/{hash}", None, None), ("PATCH", "/faces/{hash}", None, {"name": "Mallory"}),
                 ("POST", "/faces/{hash}/photos", lambda: photo("faces/obama/obama4.jpg"), None),
                 ("POST", "/signout", None, None), ("POST", "/me/delete", None, {"confirm": True})]


@pytest.mark.parametrize("origin", ["http://evil.example", "null", "http://localhost:1", "https://127.0.0.1"])
def test_another_site_s_page_changes_nothing_and_uses_up_no_sign_in_attempt(services, live_server, store, barack,
                                                                           origin):
    from webapp.http.face_gate import CLIENT_FAILURES, FaceGate

    server = live_server(create_app(replace(services, gate=FaceGate(services.signing_secret, ledger=store,
                                                                     liveness="off"))))
    before = stored_bytes(store)
    for method, path, files, body in STATE_CHANGES:
        path = path.format(hash=barack.hash)
        for _ in range(3 if path == "/login" else 1):
            answer = send(server, method, path, headers={"Origin": origin}, files=files() if files else None,
                          json_body=body)
            assert answer.status == 403 and "another site" in answer.error, (method, path, answer.status)
            assert origin in answer.error
    assert stored_bytes(store) == before and [i.name for i in store.identities()] == ["Barack"]
    # None of those counted against this machine's sign-ins: all of its own tries are left.
    for attempt in range(CLIENT_FAILURES):
        assert send(server, "POST", "/login").status == 400, attempt
    assert send(server, "POST", "/login").status == 429


def test_embedding_or_fetching_from_another_site_is_refused_but_a_link_to_a_page_is_followed(services, live_server):
    server = live_server(create_app(services))
    for site in ("cross-site", "same-site"):
        for path, mode, dest in [("/streaming", "no-cors", "image"), ("/faces", "cors", "empty"),
                                 ("/hash", "no-cors", "script"), ("/", "navigate", "iframe")]:
            answer = send(server, "GET", path, headers={"Sec-Fetch-Site": site, "Sec-Fetch-Mode": mode,
                                                        "Sec-Fetch-Dest": dest})
            assert answer.status == 403 and "another site" in answer.error, (site, path)
        link = send(server, "GET", "/", headers={"Sec-Fetch-Site": site, "Sec-Fetch-Mode": "navigate",
                                                 "Sec-Fetch-Dest": "document"})
        assert link.status == 200 and link.headers["Content-Type"].startswith("text/html")
    # The server's own page, and programs that send neither header.
    own = {"Origin": server.url, "Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "cors", "Sec-Fetch-Dest": "empty"}
    registered = send(server, "POST", "/register", headers=own, files=photo())
    assert registered.status == 201, registered.body
    assert send(server, "GET", "/faces", headers={"Sec-Fetch-Site": "none", "Sec-Fetch-Mode": "navigate"}).status == 200
    port = urlsplit(server.url).port
    renamed = send(server, "PATCH", f"/faces/{registered.json()['id']}", host=f"localhost:{port}",
                   headers={"Origin": f"http://localhost:{port}"}, json_body={"name": "B"})
    assert renamed.status == 200


def assert_guarded(answer: Answer, policy: str) -> None:
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert answer.headers["Content-Security-Policy"] == policy
    assert answer.headers["X-Frame-Options"] == "DENY"
    assert answer.headers["Cross-Origin-Resource-Policy"] == "same-origin"
    assert answer.headers["Referrer-Policy"] == "same-origin"


def test_every_answer_carries_the_security_headers(services, live_server):
    server = live_server(create_app(services, max_upload=1024))
    for path in ("/", "/people", "/albums", "/signin", "/signup"):
        page = send(server, "GET", path)
        assert page.status == 200 and page.headers["Content-Type"].startswith("text/html"), path
        assert_guarded(page, PAGE_POLICY)
        assert b"<script>" not in page.body and b" on" + b"click=" not in page.body and b"style=" not in page.body
    for method, path, host in [("GET", "/faces", None), ("GET", "/static/app.js", None), ("GET", "/nope", None),
                               ("GET", "/faces", "attacker.example"), ("GET", "/openapi.json", None)]:
        assert_guarded(send(server, method, path, host=host), OTHER_POLICY)
    assert "sandbox" in OTHER_POLICY and "default-src 'none'" in OTHER_POLICY
    assert "frame-ancestors 'none'" in PAGE_POLICY and "'unsafe-inline'" not in PAGE_POLICY
    # waitress's own refusal (the body is over the limit), before the app is reached.
    too_big = send(server, "POST", "/register", headers={"Content-Length": str(8 << 20)})
    assert too_big.status == 413 and too_big.headers["Content-Type"] == "application/json"
    assert_guarded(too_big, OTHER_POLICY)


@pytest.fixture
def proxied(services, store):
    """A server behind a proxy at 127.0.0.2 (Linux answers on all of 127/8), signing in with one photo."""
    from webapp.http.face_gate import FaceGate

    gate = FaceGate(services.signing_secret, ledger=store, liveness="off")
    server = ServerThread(create_app(replace(services, gate=gate)), trusted_proxy="127.0.0.2")
    yield server
    server.close()


def session_cookie(answer: Answer) -> str:
    cookies = [c for c in answer.headers.get_all("Set-Cookie") or [] if c.startswith("faceapp_session=")]
    assert len(cookies) == 1, answer.headers
    return cookies[0]


def test_the_session_cookie_is_secure_when_the_trusted_proxy_says_https(proxied):
    https = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7"}
    signed_up = send(proxied, "POST", "/signup", headers=https, files=photo(), source="127.0.0.2")
    assert signed_up.status == 201, signed_up.body
    assert "; Secure" in session_cookie(signed_up)
    # A client that claims HTTPS itself is not believed; nor is the proxy when it says plain http.
    claimed = send(proxied, "POST", "/signin", headers=https, files=photo("faces/obama/obama2.jpg"))
    assert claimed.status == 200 and "Secure" not in session_cookie(claimed)
    plain = send(proxied, "POST", "/signin", headers={"X-Forwarded-Proto": "http"},
                 files=photo("faces/obama/obama2.jpg"), source="127.0.0.2")
    assert plain.status == 200 and "Secure" not in session_cookie(plain)


def test_the_client_address_comes_from_the_trusted_proxy_only(proxied):
    from webapp.http.face_gate import CLIENT_FAILURES

    def login(source: str, client: str) -> int:
        return send(proxied, "POST", "/login", headers={"X-Forwarded-For": f"198.51.100.1, {client}"},
                    source=source).status

    for attempt in range(CLIENT_FAILURES):  # no photo: each a failed sign-in of 203.0.113.7
        assert login("127.0.0.2", "203.0.113.7") == 400, attempt
    assert login("127.0.0.2", "203.0.113.7") == 429
    assert login("127.0.0.2", "203.0.113.8") == 400  # another client behind the same proxy is not slowed
    assert login("127.0.0.1", "203.0.113.7") == 400  # a client that names someone else is itself
    # The Host the proxy passes on is the one checked; X-Forwarded-Host is believed from no one (a proxy
    # passes a client's own through, and a rebinding page can add it to make its foreign Host pass).
    rebound = {"X-Forwarded-Host": "localhost"}
    assert send(proxied, "GET", "/faces", headers=rebound, host="rebind.attacker.example",
                source="127.0.0.2").status == 421
    assert send(proxied, "GET", "/faces", headers={"X-Forwarded-Host": "rebind.attacker.example"},
                source="127.0.0.2").status == 200


def test_the_settings_for_names_and_a_proxy(capsys):
    from config import parse_config

    settings = parse_config(["--allowed-hosts", "Faces.LAN, faces.example.org.,[::1]:8443, 10.0.0.9"],
                            {"FACE_TRUSTED_PROXY": "::ffff:0:a00:2"}).server
    assert settings.allowed_hosts == ("faces.lan", "faces.example.org", "::1", "10.0.0.9")
    assert settings.trusted_proxy == "::ffff:0:a00:2"
    from_env = parse_config([], {"FACE_ALLOWED_HOSTS": "a.lan,b.lan", "FACE_TRUSTED_PROXY": "10.0.0.2"}).server
    assert from_env.allowed_hosts == ("a.lan", "b.lan") and from_env.trusted_proxy == "10.0.0.2"
    assert parse_config([], {}).server.allowed_hosts == () and parse_config([], {}).server.trusted_proxy is None
    for argv, env, said in [(["--allowed-hosts", "http://faces.lan"], {}, "not host names"),
                            ([], {"FACE_ALLOWED_HOSTS": "faces lan"}, "not host names"),
                            (["--trusted-proxy", "proxy.lan"], {}, "IP address")]:
        with pytest.raises(SystemExit) as exited:
            parse_config(argv, env)
        assert exited.value.code == 2 and said in capsys.readouterr().err
