"""Sessions are signed with a key derived from the store key (outside the data dir): a cookie forged with
the installation secret, as a copy of the data dir used to allow, opens nobody's page and deletes no one."""
from __future__ import annotations

from dataclasses import replace
import hashlib
import hmac
import io
import time

import requests
from flask import Flask
from flask.sessions import SecureCookieSessionInterface

from recognition.store.identity import Identity
from tests.conftest import fixture_path, open_store
from tests.test_store_contract import unit


def photo(relative: str) -> dict:
    return {"image": ("p.jpg", io.BytesIO(fixture_path("faces/" + relative).read_bytes()), "image/jpeg")}


def forged_cookie(installation_secret: bytes, identity_hash: str) -> str:
    """A session cookie made the way the review made one: the cookie key derived from the data dir's
    installation secret as the release before this one derived it, signed by Flask's own serializer."""
    forger = Flask("forger")
    forger.secret_key = hmac.new(installation_secret, b"faceapp session cookie", hashlib.sha256).digest()
    serializer = SecureCookieSessionInterface().get_signing_serializer(forger)
    return serializer.dumps({"_permanent": True, "identity": identity_hash, "since": time.time()})


def serve(services, live_server, pose_model):
    from webapp import create_app
    from webapp.http.face_gate import FaceGate

    gate = FaceGate(services.signing_secret, ledger=services.store, liveness="off", pose_model=pose_model)
    return live_server(create_app(replace(services, gate=gate)))


def test_a_cookie_forged_from_the_data_dirs_secret_is_refused_and_a_genuine_one_works(services, live_server,
                                                                                       pose_model, tmp_path):
    store = services.store
    victim = Identity(hash="ab" * 32, model="Dlib", embeddings=[unit(1)], name="Victim")
    store.add_many([victim])
    server = serve(services, live_server, pose_model)

    # Even someone who knows the installation secret (say, from a copy taken before this release) forges nothing.
    forged = requests.Session()
    forged.cookies.set("faceapp_session", forged_cookie(store.secret, victim.hash), domain="127.0.0.1")
    page = forged.get(server.url + "/me", allow_redirects=False, timeout=30)
    assert page.status_code == 302 and page.headers["Location"].endswith("/signin")
    refused = forged.post(server.url + "/me/delete", json={"confirm": True}, timeout=30)
    assert refused.status_code == 401 and "nobody is signed in" in refused.json()["error"]
    assert store.get(victim.hash) is not None

    genuine = requests.Session()
    created = genuine.post(server.url + "/signup", files=photo("obama/obama1.jpg"), data={"name": "Barack"},
                           timeout=60)
    assert created.status_code == 201, created.text
    mine = created.json()["id"]
    assert "Barack" in genuine.get(server.url + "/me", timeout=30).text
    deleted = genuine.post(server.url + "/me/delete", json={"confirm": True}, timeout=60)
    assert deleted.status_code == 200 and deleted.json()["deleted"] == mine
    assert store.get(mine) is None and store.get(victim.hash) is not None
    on_disk = (tmp_path / "db" / "installation_secret").read_bytes()
    assert store.secret not in on_disk  # sealed with the store key: a copy of the data dir does not hold it


def test_sessions_hold_across_a_restart_and_end_with_a_key_rotation(tmp_path):
    """The signing key is the same each time the store opens (a restart keeps people signed in) and for
    every server that shares the store; a rotation of the store key changes it."""
    from webapp.parts import signing_secret

    with open_store(tmp_path) as store:
        first = signing_secret(store)
        assert first != store.secret and len(first) == 32
    with open_store(tmp_path) as store:
        assert signing_secret(store) == first
        store.rotate_key()
        assert signing_secret(store) != first
