"""Keys with scopes, made with `python -m tools.keys` while the server runs: a key may call what its
scopes allow (403 naming the scope otherwise), a revoked key gets 401 within the reload period, each key
has its own rate limit, a viewer cookie dies with the key that bought it, the keys are kept sealed (in the
data dir or in PostgreSQL), and no key ever reaches a log."""
from __future__ import annotations

import logging
import os
import subprocess
import sys
from dataclasses import replace

import pytest
import requests

from recognition.store.api_keys import FILE, keys_exist
from tests.conftest import ROOT, fixture_path, wait_until
from tools.keys import main as keys_tool
from webapp import create_app
from webapp.http.keyring import Keyring


class ManualClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def tool_env(store) -> dict:
    return {"FACE_DATA_DIR": str(store.data_dir), "FACE_KEY_FILE": str(store.key_path)}


def make_key(store, capsys, *args) -> str:
    """A key made by the tool in this process, as printed: alone on standard output."""
    capsys.readouterr()
    assert keys_tool(["create", *args], tool_env(store)) == 0
    return capsys.readouterr().out.strip()


def call(server, method, path, key=None, **kwargs):
    headers = {"X-API-Key": key} if key else {}
    response = requests.request(method, server.url + path, headers=headers, timeout=60, **kwargs)
    body = response.json() if response.headers.get("Content-Type", "").startswith("application/json") else None
    return response.status_code, body


def photo(relative: str, field: str = "image"):
    return {field: (relative.rsplit("/", 1)[-1], fixture_path("faces/" + relative).read_bytes(), "image/jpeg")}


@pytest.fixture
def keyed(services, live_server):
    """A server of the store's keys on a manual clock (a key made or revoked counts once it moves by a second)."""
    clock = ManualClock()
    parts = replace(services, keyring=Keyring.for_store(services.store, clock=clock))
    return live_server(create_app(parts)), clock


def test_a_key_without_enroll_cannot_enroll_and_a_revoked_key_gets_401(keyed, store, capsys, caplog):
    caplog.set_level(logging.DEBUG)
    server, clock = keyed
    assert call(server, "GET", "/hash")[0] == 200  # no key anywhere: open on loopback, as before
    key = make_key(store, capsys, "--scopes", "read,recognize", "--label", "door panel")
    assert key.startswith("fk_") and len(key) == 3 + 8 + 1 + 43
    clock.now += 1
    status, body = call(server, "GET", "/hash")
    assert status == 401 and body["needs_key"]  # a key exists now: keys are needed
    assert call(server, "GET", "/hash", key=key)[0] == 200
    assert call(server, "GET", "/faces", key=key)[0] == 200
    assert call(server, "POST", "/process-frame", key=key, files=photo("obama/obama2.jpg", "frame"))[0] == 200
    status, body = call(server, "POST", "/enroll", key=key, files=photo("obama/obama1.jpg"), data={"name": "Barack"})
    assert status == 403 and body["needs_scope"] == "enroll" and "'enroll'" in body["error"]
    assert len(store) == 0
    assert call(server, "DELETE", "/faces/" + "a" * 64, key=key)[1]["needs_scope"] == "enroll"
    assert call(server, "POST", "/cameras", key=key, json={"name": "x", "source": "none"})[1]["needs_scope"] == "admin"
    assert call(server, "GET", "/hash", key=key[:-1] + ("A" if key[-1] != "A" else "B"))[0] == 401  # wrong secret
    key_id = key[3:11]
    capsys.readouterr()
    assert keys_tool(["list"], tool_env(store)) == 0
    listed = capsys.readouterr().out
    assert key_id in listed and "read,recognize" in listed and "door panel" in listed and "active" in listed
    assert keys_tool(["revoke", key_id], tool_env(store)) == 0
    clock.now += 1  # the reload period
    status, body = call(server, "GET", "/hash", key=key)
    assert status == 401 and body["needs_key"] and "revoked" in body["error"]
    assert keys_tool(["list"], tool_env(store)) == 0
    assert "revoked" in capsys.readouterr().out
    assert keys_tool(["revoke", "00000000"], tool_env(store)) == 1
    # The key in full, or its secret, is in no log line and in no file of the data dir.
    assert key not in caplog.text and key[12:] not in caplog.text and caplog.records
    for path in store.data_dir.rglob("*"):
        if path.is_file():
            assert key[12:].encode() not in path.read_bytes() and b"door panel" not in path.read_bytes()


def test_the_tool_makes_and_revokes_keys_while_a_server_holds_the_data_dir(services, live_server, store):
    """As a user runs it: another process, the server's data dir locked, the server's real clock."""
    server = live_server(create_app(services))
    env = {**os.environ, **tool_env(store)}

    def tool(*args):
        return subprocess.run([sys.executable, "-m", "tools.keys", *args], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=60)

    made = tool("create", "--scopes", "enroll")
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip()
    assert key.startswith("fk_") and key not in made.stderr and "only time" in made.stderr
    # Allowed to change people (this one does not exist: 404), not to read them.
    assert wait_until(lambda: call(server, "PATCH", "/faces/" + "a" * 64, key=key, json={"name": "x"})[0] == 404, 5)
    assert call(server, "GET", "/faces", key=key)[0] == 403
    assert tool("revoke", key[3:11]).returncode == 0
    assert wait_until(lambda: call(server, "GET", "/hash", key=key)[0] == 401, 5)
    assert key not in tool("list").stdout


def test_each_key_has_its_own_rate_limit(keyed, store, capsys):
    server, clock = keyed
    slow = make_key(store, capsys, "--scopes", "read", "--rate", "1", "--burst", "3")
    other = make_key(store, capsys, "--scopes", "read")
    clock.now += 1
    for _ in range(3):
        assert call(server, "GET", "/hash", key=slow)[0] == 200
    refused = requests.get(server.url + "/hash", headers={"X-API-Key": slow}, timeout=10)
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "1"
    assert refused.json()["retry_after"] == 1 and "this key" in refused.json()["error"]
    assert call(server, "GET", "/hash", key=other)[0] == 200  # another key is not slowed by it
    clock.now += 1
    assert call(server, "GET", "/hash", key=slow)[0] == 200


def test_a_viewer_cookie_needs_read_and_dies_with_its_key(keyed, store, capsys):
    server, clock = keyed
    reader = make_key(store, capsys, "--scopes", "read")
    recognizer = make_key(store, capsys, "--scopes", "recognize")
    clock.now += 1
    assert call(server, "POST", "/auth/viewer", key=recognizer)[1]["needs_scope"] == "read"
    browser = requests.Session()
    assert browser.post(server.url + "/auth/viewer", headers={"X-API-Key": reader}, timeout=10).status_code == 200
    assert browser.get(server.url + "/hash", timeout=10).status_code == 401  # a JSON read: the key itself
    with browser.get(server.url + "/streaming", timeout=10, stream=True) as stream:
        assert stream.status_code == 200
    assert keys_tool(["revoke", reader[3:11]], tool_env(store)) == 0
    clock.now += 1
    with browser.get(server.url + "/streaming", timeout=10, stream=True) as stream:
        assert stream.status_code == 401


def test_admin_keys_and_the_api_key_may_call_everything(services, live_server, store, capsys):
    admin = make_key(store, capsys, "--scopes", "admin")
    server = live_server(create_app(replace(services, api_key="the-operators-key")))
    for key in (admin, "the-operators-key"):
        assert call(server, "GET", "/hash", key=key)[0] == 200
        assert call(server, "DELETE", "/faces/" + "a" * 64, key=key)[0] == 404
        assert call(server, "DELETE", "/cameras/nowhere", key=key)[0] == 404
    assert call(server, "GET", "/hash", key="fk_00000000_" + "a" * 43)[0] == 401


def test_stored_keys_guard_a_network_server_and_a_damaged_file_refuses_them(services, live_server, store, capsys):
    assert not keys_exist(store.data_dir)
    key = make_key(store, capsys, "--scopes", "read")
    assert keys_exist(store.data_dir)  # run.py then serves a network address without --api-key
    clock = ManualClock()
    server = live_server(create_app(replace(services, keyring=Keyring.for_store(store, clock=clock))))
    assert call(server, "GET", "/hash", key=key)[0] == 200
    (store.data_dir / FILE).write_bytes(b"not sealed")
    clock.now += 1
    assert call(server, "GET", "/hash", key=key)[0] == 401
    assert call(server, "GET", "/hash")[0] == 401  # still guarded: a damaged file never opens the server


def test_keys_deleted_or_unreadable_never_open_the_server(services, live_server, store, capsys):
    """Fail closed: a key file removed after keys were seen, or a store whose keys cannot be read yet,
    leaves every guarded route needing a key."""
    key = make_key(store, capsys, "--scopes", "read")
    clock = ManualClock()
    server = live_server(create_app(replace(services, keyring=Keyring.for_store(store, clock=clock))))
    assert call(server, "GET", "/hash", key=key)[0] == 200
    (store.data_dir / FILE).unlink()  # someone who can write the data dir removes the keys
    clock.now += 1
    assert call(server, "GET", "/hash")[0] == 401 and call(server, "GET", "/hash", key=key)[0] == 401

    # A key table whose database is away when the server first reads it (a real client, a closed port).
    from recognition.store.postgres.api_keys import KeyTable
    from recognition.store.postgres.store import connect
    from tests.support.postgres_server import free_port

    url = f"postgresql://faceapp@127.0.0.1:{free_port()}/faces"
    table = KeyTable(lambda: connect(url, autocommit=True), "an unreachable database")
    away = live_server(create_app(replace(services, keyring=Keyring(table, lambda: (store.key, store.secret)))))
    assert call(away, "GET", "/hash")[0] == 401


def test_an_older_copy_of_the_key_file_never_brings_a_revoked_key_back(keyed, store, capsys):
    server, clock = keyed
    key = make_key(store, capsys, "--scopes", "read")
    before = (store.data_dir / FILE).read_bytes()  # a copy taken while the key was good
    assert keys_tool(["revoke", key[3:11]], tool_env(store)) == 0
    clock.now += 1
    assert call(server, "GET", "/hash", key=key)[0] == 401
    (store.data_dir / FILE).write_bytes(before)  # put back by someone who can write the data dir
    clock.now += 1
    assert call(server, "GET", "/hash", key=key)[0] == 401  # refused: the anchor outside says it was written since
    assert call(server, "GET", "/hash")[0] == 401
    listed = keys_tool(["list"], tool_env(store))
    assert listed != 0 and "older copy" not in capsys.readouterr().out  # the tool refuses it too, on stderr


def test_keys_in_postgresql_count_on_every_server(postgres, tmp_path, analyzer, live_server, capsys):
    import psycopg

    from recognition.store.postgres.store import PostgresStore
    from webapp.parts import Parts

    url = postgres.new_database()
    env = {"FACE_STORE": url, "FACE_DATA_DIR": str(tmp_path / "a"), "FACE_KEY_FILE": str(tmp_path / "keys" / "k")}
    stores = [PostgresStore(url, tmp_path / name, tmp_path / "keys" / "k") for name in ("a", "b")]
    try:
        clock = ManualClock()
        servers = [live_server(create_app(Parts.build(store=s, analyzer=analyzer,
                                                      keyring=Keyring.for_store(s, clock=clock)))) for s in stores]
        capsys.readouterr()
        assert keys_tool(["create", "--scopes", "read", "--label", "hall"], env) == 0
        key = capsys.readouterr().out.strip()
        clock.now += 1
        assert [call(server, "GET", "/hash", key=key)[0] for server in servers] == [200, 200]
        assert [call(server, "GET", "/faces/" + "a" * 64, key=key)[0] for server in servers] == [404, 404]
        assert call(servers[0], "DELETE", "/faces/" + "a" * 64, key=key)[0] == 403
        with psycopg.connect(url) as conn:
            rows = conn.execute("SELECT id, body FROM faceapp_api_keys").fetchall()
        assert [row[0] for row in rows] == [key[3:11]] and b"hall" not in bytes(rows[0][1])
        assert keys_tool(["revoke", key[3:11]], env) == 0
        clock.now += 1
        assert [call(server, "GET", "/hash", key=key)[0] for server in servers] == [401, 401]
        assert keys_exist(tmp_path / "a", url)
    finally:
        for s in stores:
            s.close()


def test_a_revoked_key_loses_its_open_streams_and_one_key_holds_half_the_slots(keyed, store, capsys):
    server, clock = keyed
    key = make_key(store, capsys, "--scopes", "read")
    other = make_key(store, capsys, "--scopes", "read")
    clock.now += 1
    streams = [requests.get(server.url + "/events", headers={"X-API-Key": key}, stream=True, timeout=30)
               for _ in range(4)]  # --max-viewers 8: a key may hold 4
    try:
        assert [stream.status_code for stream in streams] == [200] * 4
        fifth = call(server, "GET", "/events", key=key)
        assert fifth[0] == 503 and "share" in fifth[1]["error"]
        with requests.get(server.url + "/events", headers={"X-API-Key": other}, stream=True, timeout=30) as another:
            assert another.status_code == 200  # another key still gets in
        assert keys_tool(["revoke", key[3:11]], tool_env(store)) == 0
        clock.now += 1
        # Each open stream ends by itself within a few of its once-a-second looks at the key.
        for stream in streams:
            assert b"".join(stream.iter_content(chunk_size=None)).startswith(b"retry:")
    finally:
        for stream in streams:
            stream.close()
    assert call(server, "GET", "/events", key=key)[0] == 401
