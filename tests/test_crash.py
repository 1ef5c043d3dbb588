"""kill -9 at any moment loses nothing that was acknowledged; a second server and a planted file are refused."""
import json
import os
import pickle
import random
import signal
import subprocess
import sys
import textwrap
import threading
import time
import urllib.request

import pytest
import requests

from tests.conftest import ROOT, fixture_path, free_port, open_store, wait_until
from tests.test_store import PlantedPayload

pytestmark = pytest.mark.slow

WRITER = textwrap.dedent("""
    import random, sys, numpy as np
    from recognition.store.identity import Identity
    from recognition.store import open_store
    url = None if sys.argv[4] == "file" else sys.argv[4]
    small = {"chunk_identities" if url else "segment_identities": 16}  # small: rollovers and rewrites
    store = open_store(sys.argv[1], sys.argv[2], url=url, **small)
    rng, pick = np.random.default_rng(int(sys.argv[3])), random.Random(int(sys.argv[3]))
    while sys.stdin.readline():  # one change per go-ahead: the kill can only interrupt the one asked for
        known = [s["hash"] for s in store.summaries()]
        op = pick.choice(["add"] * 3 + ["rename", "delete"]) if known else "add"
        if op == "add":
            vector = rng.normal(size=128).astype(np.float32)
            target, name = rng.bytes(32).hex(), ""
            print("start add", target, flush=True)
            store.add_many([Identity(hash=target, model="Dlib", embeddings=[vector / np.linalg.norm(vector)])])
        elif op == "rename":
            target, name = pick.choice(known), f"n{pick.randrange(10**6)}"
            print("start rename", target, name, flush=True)
            store.rename(target, name)
        else:
            target, name = pick.choice(known), ""
            print("start delete", target, flush=True)
            store.remove(target)
        print("done", flush=True)  # acknowledged: the call returned, so the change is on disk
""")


@pytest.fixture(params=["file", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request) -> str:
    return request.param if request.param == "file" else request.getfixturevalue("postgres").new_database()


def test_kill_9_in_the_middle_of_writes_loses_no_acknowledged_one(tmp_path, store_url):
    """Enrollments, renames and deletes (appends, segment rewrites, rollovers), killed at random moments;
    on disk, or in PostgreSQL (a write is acknowledged once committed)."""
    from recognition.store import open_store as open_any

    data_dir, key = tmp_path / "db", tmp_path / "keys" / "store.key"
    expected: dict[str, str] = {}  # hash -> name, after every acknowledged change
    rng = random.Random(7)
    acknowledged = 0
    for round_number in range(8):
        process = subprocess.Popen([sys.executable, "-c", WRITER, str(data_dir), str(key), str(round_number), store_url],
                                   cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

        def go_ahead() -> None:  # a writer left to run free gets ahead of the reads when the machine is busy
            process.stdin.write("\n")
            process.stdin.flush()

        wanted = rng.randint(5, 60)  # kill after a random number of acknowledgements, mid-write
        watchdog = threading.Timer(60, process.kill)  # a stuck writer ends the reads below with EOF
        watchdog.start()
        for _ in range(wanted):
            go_ahead()
            started = process.stdout.readline().split()
            done = process.stdout.readline().strip()
            assert started and done == "done", f"round {round_number}: the writer stopped early"
            apply(expected, started)
            acknowledged += 1
        go_ahead()
        in_flight = process.stdout.readline().split()  # the change the kill may interrupt (or not: either is right)
        watchdog.cancel()
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        url = None if store_url == "file" else store_url
        with open_any(data_dir, key, url=url, **({"follow": False} if url else {})) as store:  # the lock died with the writer
            stored = {s["hash"]: s["name"] or "" for s in store.summaries()}
        if in_flight:  # not acknowledged: either outcome is right, and the next round starts from it
            target = in_flight[2]
            expected.pop(target, None)
            if target in stored:
                expected[target] = stored[target]
        assert stored == expected, f"round {round_number}: the store differs from what was acknowledged"
    assert acknowledged >= 40 and len(expected) > 0
    assert not list(data_dir.rglob(".*.tmp"))  # leftovers of killed writes are cleared on open


def apply(state: dict, started: list[str]) -> None:
    op, target = started[1], started[2]
    if op == "add":
        state[target] = ""
    elif op == "rename":
        state[target] = started[3]
    else:
        del state[target]


def server_env(tmp_path, port: int, weights_dir) -> dict:
    return dict(os.environ, DEEPFACE_HOME=str(weights_dir.parent.parent), FACE_SOURCE="none", FACE_PORT=str(port),
                FACE_DATA_DIR=str(tmp_path / "db"), FACE_KEY_FILE=str(tmp_path / "keys" / "store.key"),
                FACE_MODEL="Dlib", FACE_OFFLINE="1")


def start_server(env: dict, log_path):
    with open(log_path, "a") as log:
        return subprocess.Popen([sys.executable, str(ROOT / "run.py")], cwd=ROOT, env=env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)


def wait_serving(url: str, process, log_path) -> None:
    def up():
        try:
            with urllib.request.urlopen(f"{url}/faces", timeout=2) as response:
                return json.loads(response.read())
        except OSError:
            return None

    assert wait_until(lambda: up() or process.poll() is not None, timeout=120, interval=0.2)
    assert process.poll() is None, log_path.read_text()[-3000:]


def kill_9(process) -> None:
    os.killpg(process.pid, signal.SIGKILL)  # the server and its model process, without warning
    process.wait(timeout=10)


PHOTOS = ["obama/obama1.jpg", "biden/biden1.jpg", "kit_harington/kit1.jpg", "rose_leslie/rose1.jpg",
          "alex_lacamoire/alex1.jpg", "lin_manuel_miranda/lin1.png"]


def test_kill_9_during_enrollments_over_http_loses_none_that_were_answered(tmp_path, weights_dir):
    port = free_port()
    url, env, log_path = f"http://127.0.0.1:{port}", server_env(tmp_path, port, weights_dir), tmp_path / "server.log"
    photos = {p: fixture_path("faces/" + p).read_bytes() for p in PHOTOS}
    answered: dict[str, str] = {}  # photo -> hash, for every 201 (and 409: already stored)
    rng = random.Random(3)
    for round_number in range(4):
        process = start_server(env, log_path)
        try:
            wait_serving(url, process, log_path)
            stop = threading.Event()

            def enroll_remaining():
                for photo, data in photos.items():
                    if stop.is_set() or photo in answered:
                        continue
                    try:
                        response = requests.post(f"{url}/enroll", files={"image": (photo, data)}, timeout=30)
                    except requests.RequestException:
                        return  # the server died under us: this one was never answered
                    if response.status_code in (201, 409):
                        answered[photo] = response.json()["hash"]

            client = threading.Thread(target=enroll_remaining)
            client.start()
            time.sleep(rng.uniform(0.1, 0.8))  # somewhere in the middle of the stream of enrollments
            kill_9(process)
            stop.set()
            client.join(60)
        finally:
            if process.poll() is None:
                kill_9(process)
        with open_store(tmp_path, read_only=True) as store:
            stored = {identity.hash for identity in store.identities()}
        print(f"round {round_number}: {len(answered)} answered so far, {len(stored)} stored")
        lost = {photo for photo, identity_hash in answered.items() if identity_hash not in stored}
        assert not lost, f"round {round_number}: answered but lost: {lost}"
    assert answered, "no enrollment was answered before the kills"
    process = start_server(env, log_path)  # and the server starts cleanly on what the kills left
    try:
        wait_serving(url, process, log_path)
        listed = {face["hash"] for face in requests.get(f"{url}/faces", timeout=10).json()["faces"]}
        assert set(answered.values()) <= listed
    finally:
        kill_9(process)


def test_a_second_server_on_the_same_data_dir_is_refused(tmp_path, weights_dir):
    port = free_port()
    env, log_path = server_env(tmp_path, port, weights_dir), tmp_path / "first.log"
    first = start_server(env, log_path)
    try:
        wait_serving(f"http://127.0.0.1:{port}", first, log_path)
        second = subprocess.run([sys.executable, str(ROOT / "run.py")], cwd=ROOT, timeout=120, capture_output=True,
                                text=True, env={**env, "FACE_PORT": str(free_port())})
        assert second.returncode == 2
        assert f"the data dir {tmp_path / 'db'} is in use by pid {first.pid}" in second.stderr
    finally:
        kill_9(first)


def test_a_planted_pickle_stops_the_server_and_is_named(tmp_path, weights_dir):
    data_dir, marker = tmp_path / "db", tmp_path / "pwned"
    data_dir.mkdir()
    planted = data_dir / "faces.pkl"
    planted.write_bytes(pickle.dumps({"version": 2, "identities": [PlantedPayload(marker)]}))
    done = subprocess.run([sys.executable, str(ROOT / "run.py")], cwd=ROOT, timeout=120, capture_output=True,
                          text=True, env=server_env(tmp_path, free_port(), weights_dir))
    assert done.returncode == 2
    assert f"{planted} could not be read safely: refused to load posix.system" in done.stderr
    assert "the server did not start and changed nothing" in done.stderr
    assert not marker.exists() and planted.exists()
