"""A real page on another origin, in real Chromium, tries to drive the server: its form posts, no-cors
fetches and images must all fail, with nothing stored and no sign-in attempt used up. And the server's
own pages run no script but their own files."""
from __future__ import annotations

import base64
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest
import requests

import tests.test_page_browser as page_browser
from tests.conftest import fixture_path
from tests.test_more_photos import zipped
from webapp import create_app

pytestmark = pytest.mark.browser

chromium = page_browser.chromium  # headless Debian chromium

ATTACK = """<!doctype html>
<html><body>
<iframe name="sink1"></iframe><iframe name="sink2"></iframe>
<form id="register" method="post" enctype="multipart/form-data" target="sink1" action="{app}/register">
  <input name="name" value="chosen by the attacker"><input type="file" name="image"></form>
<form id="import" method="post" enctype="multipart/form-data" target="sink2" action="{app}/people/import">
  <input type="file" name="zip"></form>
<img id="stream" src="{app}/streaming" alt="">
<script>
const bytes = (text) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
const face = bytes("{face}"), zip = bytes("{zip}");
function attach(form, field, data, name, type) {{
  const files = new DataTransfer();
  files.items.add(new File([data], name, {{type}}));
  document.querySelector(`#${{form}} [name=${{field}}]`).files = files.files;
}}
const loaded = (frame) => new Promise((done) => document.getElementsByName(frame)[0].addEventListener("load", done));
const later = (ms, value) => new Promise((done) => setTimeout(() => done(value), ms));
const shown = new Promise((done) => {{
  const image = document.getElementById("stream");
  image.addEventListener("error", () => done("failed"));
  const look = () => image.naturalWidth > 0 ? done("shown") : setTimeout(look, 100);
  look();
}});
function faceForm() {{
  const form = new FormData();
  form.append("image", new File([face], "face.jpg", {{type: "image/jpeg"}}));
  form.append("name", "fetched");
  return form;
}}
async function attack() {{
  attach("register", "image", face, "face.jpg", "image/jpeg");
  attach("import", "zip", zip, "people.zip", "application/zip");
  const frames = Promise.all([loaded("sink1"), loaded("sink2")]);
  document.getElementById("register").submit();
  document.getElementById("import").submit();
  const posts = [fetch("{app}/register", {{method: "POST", mode: "no-cors", body: faceForm()}}),
                 fetch("{app}/enroll", {{method: "POST", mode: "no-cors", body: faceForm()}})];
  for (let i = 0; i < 25; i++) {{  // failed sign-ins, enough to lock this machine out of /login
    posts.push(fetch("{app}/login", {{method: "POST", mode: "no-cors", body: new FormData()}}));
  }}
  const fetched = (await Promise.allSettled(posts)).map((outcome) => outcome.status);
  const stream = await Promise.race([shown, later(15000, "nothing")]);
  await Promise.race([frames, later(20000)]);
  window.outcome = {{fetched, stream}};
}}
attack();
</script>
</body></html>"""


@contextmanager
def attacker_site(html: str):
    """Another origin: a tiny HTTP server on 127.0.0.1 that serves the attack page for any path."""

    class Page(BaseHTTPRequestHandler):
        def do_GET(self):
            body = html.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=server.serve_forever, name="attacker-site", daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def attack_page(app_url: str) -> str:
    face = fixture_path("faces/obama/obama1.jpg").read_bytes()
    archive = zipped({"Ada/1.jpg": fixture_path("faces/rose_leslie/rose1.jpg").read_bytes(),
                      "Ada/2.jpg": fixture_path("faces/rose_leslie/rose2.jpg").read_bytes()})
    return ATTACK.format(app=app_url, face=base64.b64encode(face).decode(), zip=base64.b64encode(archive).decode())


# The attacker's page at 127.0.0.1 and the server at localhost are different sites; at localhost on
# another port, the same site (ports do not make sites) but another origin.
@pytest.mark.parametrize("attacker_host", ["127.0.0.1", "localhost"])
def test_a_page_on_another_origin_cannot_drive_the_server(chromium, services, live_server, store, attacker_host):
    from webapp.http.face_gate import CLIENT_FAILURES

    server = live_server(create_app(services))
    app_url = f"http://localhost:{urlsplit(server.url).port}"
    with attacker_site(attack_page(app_url)) as port:
        context = chromium.new_context()  # the attacker's page breaks the app's policy (framing it): no CSP watch
        try:
            tab = context.new_page()
            tab.set_default_timeout(60_000)
            tab.goto(f"http://{attacker_host}:{port}/")
            tab.wait_for_function("() => window.outcome !== undefined")
            outcome = tab.evaluate("() => window.outcome")
        finally:
            context.close()
    assert outcome["stream"] == "failed", outcome  # the stream cannot be shown on another site's page
    # Refused by the server (and the answers are not the attacker's to read: no-cors fetches fail).
    assert set(outcome["fetched"]) == {"rejected"}, outcome
    assert store.identities() == []
    for attempt in range(CLIENT_FAILURES):  # this machine's own sign-in attempts are all left
        answer = requests.post(server.url + "/login", timeout=30)
        assert answer.status_code == 400, (attempt, answer.text)
    assert requests.post(server.url + "/login", timeout=30).status_code == 429


def test_the_pages_run_only_their_own_script_files(chromium, services, live_server):
    server = live_server(create_app(services))
    context = chromium.new_context()
    try:
        tab = context.new_page()
        violations = page_browser.watch_csp(tab)
        tab.goto(server.url + "/people")
        tab.wait_for_selector("#people-table")
        # What an injected bit of markup would try: an inline script, a handler, a script from elsewhere.
        ran = tab.evaluate("""() => new Promise((done) => {
            const inline = document.createElement("script");
            inline.textContent = "window.inlineRan = true";
            document.body.append(inline);
            const image = document.createElement("img");
            image.setAttribute("onerror", "window.handlerRan = true");
            image.src = "/no-such-image";
            document.body.append(image);
            const foreign = document.createElement("script");
            foreign.src = "http://127.0.0.1:9/x.js";
            foreign.onerror = () => setTimeout(() => done([window.inlineRan, window.handlerRan]), 500);
            document.body.append(foreign);
        })""")
        assert ran == [None, None]
        joined = " ".join(violations)
        assert "script-src" in joined or "default-src" in joined, violations
    finally:
        context.close()
