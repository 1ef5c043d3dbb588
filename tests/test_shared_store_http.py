"""Two real servers (run.py, the real model) on one PostgreSQL database, over real HTTP: a person
enrolled on one is recognised by the other within a second, a delete is honoured by both, racing
enrollments of one face make one identity, and the database going away stops writes (503) but not
recognition, until it is back."""
import threading
import time

import pytest
import requests

from tests.conftest import fixture_path, free_port, wait_until
from tests.support.postgres_server import PostgresServer
from tests.test_crash import kill_9, server_env, start_server, wait_serving

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

WITHIN = 1.0  # seconds: the promise for an enrollment or a delete to reach the other servers


@pytest.fixture(scope="module")
def database():
    server = PostgresServer().start()  # its own: this module stops and starts it
    yield server
    server.remove()


@pytest.fixture(scope="module")
def servers(database, tmp_path_factory, weights_dir):
    folder = tmp_path_factory.mktemp("two-servers")
    url = database.new_database()
    running = []
    try:
        for name in ("a", "b"):  # a first: it creates the installation's key, which b is given
            port = free_port()
            env = dict(server_env(folder / name, port, weights_dir), FACE_STORE=url,
                       FACE_KEY_FILE=str(folder / "keys" / "store.key"))
            process = start_server(env, folder / f"{name}.log")
            running.append(process)
            wait_serving(f"http://127.0.0.1:{port}", process, folder / f"{name}.log")
            running[-1] = (process, f"http://127.0.0.1:{port}")
        yield [address for _, address in running]
    finally:
        for entry in running:
            kill_9(entry[0] if isinstance(entry, tuple) else entry)


def photo(relative: str) -> bytes:
    return fixture_path("faces/" + relative).read_bytes()


def who(server: str, relative: str):
    response = requests.post(f"{server}/process-frame", files={"frame": ("f.jpg", photo(relative))}, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()["hash"]


def test_enrolled_on_one_server_recognised_on_the_other_and_deleted_everywhere(servers):
    a, b = servers
    assert who(b, "obama/obama2.jpg") is None
    enrolled = requests.post(f"{a}/enroll", files={"image": ("o.jpg", photo("obama/obama1.jpg"))},
                             data={"name": "Barack"}, timeout=30)
    assert enrolled.status_code == 201, enrolled.text
    obama = enrolled.json()["hash"]
    started = time.monotonic()
    assert wait_until(lambda: who(b, "obama/obama2.jpg") == obama, timeout=WITHIN + 2, interval=0.05)
    print(f"enrolled on a, recognised on b after {time.monotonic() - started:.3f} s (one request included)")
    assert requests.get(f"{b}/faces/{obama}", timeout=10).json()["name"] == "Barack"
    deleted = requests.delete(f"{b}/faces/{obama}", timeout=30)
    assert deleted.status_code == 200, deleted.text
    started = time.monotonic()
    assert wait_until(lambda: who(a, "obama/obama2.jpg") is None, timeout=WITHIN + 2, interval=0.05)
    print(f"deleted on b, forgotten on a after {time.monotonic() - started:.3f} s")
    assert requests.get(f"{a}/faces/{obama}", timeout=10).status_code == 404


def test_the_same_face_enrolled_on_both_at_once_is_one_identity(servers):
    a, b = servers
    answers, start = [], threading.Barrier(2)

    def enroll(server, relative):
        start.wait(10)
        answers.append(requests.post(f"{server}/enroll", files={"image": ("x.jpg", photo(relative))}, timeout=60))

    threads = [threading.Thread(target=enroll, args=(a, "biden/biden1.jpg")),
               threading.Thread(target=enroll, args=(b, "biden/biden2.jpg"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(90)
    assert sorted(r.status_code for r in answers) == [201, 409], [r.text for r in answers]
    assert answers[0].json()["hash"] == answers[1].json()["hash"]
    listed = [f["hash"] for f in requests.get(f"{a}/faces", timeout=10).json()["faces"]]
    assert listed.count(answers[0].json()["hash"]) == 1


def test_the_database_away_refuses_writes_with_503_and_recognition_goes_on(servers, database):
    a, b = servers
    enrolled = requests.post(f"{a}/enroll", files={"image": ("k.jpg", photo("kit_harington/kit1.jpg"))}, timeout=30)
    kit = enrolled.json()["hash"]
    assert wait_until(lambda: who(b, "kit_harington/kit2.jpg") == kit, timeout=WITHIN + 2, interval=0.05)
    database.stop()
    try:
        refused = requests.post(f"{a}/enroll", files={"image": ("r.jpg", photo("rose_leslie/rose1.jpg"))}, timeout=30)
        assert refused.status_code == 503 and "cannot be reached" in refused.json()["error"], refused.text
        assert refused.headers.get("Retry-After")
        assert who(a, "kit_harington/kit2.jpg") == kit and who(b, "kit_harington/kit2.jpg") == kit
        assert requests.get(f"{b}/hash", timeout=10).status_code == 200
        renamed = requests.patch(f"{b}/faces/{kit}", json={"name": "Kit"}, timeout=30)
        assert renamed.status_code == 503, renamed.text
    finally:
        database.start()
    again = requests.post(f"{a}/enroll", files={"image": ("r.jpg", photo("rose_leslie/rose1.jpg"))}, timeout=30)
    assert again.status_code == 201, again.text  # reconnected by itself
    assert wait_until(lambda: who(b, "rose_leslie/rose2.jpg") == again.json()["hash"], timeout=10, interval=0.1)
