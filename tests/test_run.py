"""run.py: settings from flags and environment, and a real start and Ctrl-C stop."""
import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from config import parse_config
from tests.conftest import CLIP, ROOT, fixture_path, free_port, wait_until


def test_defaults():
    config = parse_config([], env={})
    assert (config.camera.source, config.server.host, config.server.port, config.recognition.model) == (
        "0", "127.0.0.1", 8080, "auto")
    assert config.store.data_dir == ROOT / "known_faces_db"
    assert config.store.key_path.parent == Path.home() / ".config" / "faceapp" / "keys"
    assert config.store.key_path.name.startswith("known_faces_db-") and config.store.key_path.suffix == ".key"
    assert config.stream.max_viewers == 8 and config.camera.stall_timeout == 5.0


def test_key_file_lives_outside_the_data_dir_and_follows_xdg():
    config = parse_config(["--data-dir", "/srv/faces"], env={"XDG_CONFIG_HOME": "/etc/xdg-test"})
    assert config.store.key_path.parent == Path("/etc/xdg-test/faceapp/keys")
    assert parse_config(["--key-file", "/k/store.key"], env={}).store.key_path == Path("/k/store.key")


def test_environment_sets_and_flags_override():
    env = {"FACE_SOURCE": "clip.mp4", "FACE_PORT": "9000", "FACE_MODEL": "Dlib", "FACE_DATA_DIR": "/tmp/x",
           "DEEPFACE_HOME": "/opt/df", "FACE_STALL_TIMEOUT": "2.5"}
    config = parse_config(["--port", "9100"], env=env)
    assert (config.camera.source, config.server.port, config.recognition.model, config.store.data_dir) == (
        "clip.mp4", 9100, "Dlib", Path("/tmp/x"))
    assert config.recognition.weights_dir == Path("/opt/df/.deepface/weights") and config.camera.stall_timeout == 2.5


def test_liveness_steps_default_to_two_and_need_two_kinds_of_move():
    assert parse_config([], env={}).accounts.steps == 2
    assert parse_config([], env={"FACE_LIVENESS_STEPS": "3"}).accounts.steps == 3
    assert parse_config(["--liveness-steps", "1", "--liveness-moves", "up"], env={}).accounts.steps == 1
    with pytest.raises(SystemExit):
        parse_config(["--liveness-steps", "5"], env={})
    with pytest.raises(SystemExit, match="at least two"):
        parse_config(["--liveness-moves", "up"], env={})


def test_server_starts_serves_and_stops_on_ctrl_c(weights_dir, tmp_path):
    fixture_path("video/short_hamilton_clip.mp4")
    port = free_port()
    env = dict(os.environ, DEEPFACE_HOME=str(weights_dir.parent.parent), FACE_SOURCE=str(CLIP),
               FACE_PORT=str(port), FACE_DATA_DIR=str(tmp_path / "db"), FACE_MODEL="auto",
               FACE_KEY_FILE=str(tmp_path / "keys" / "store.key"),
               FACE_OFFLINE="1")  # tests never reach the network, not even to probe for Facenet
    log_path = tmp_path / "server.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen([sys.executable, str(ROOT / "run.py")], cwd=ROOT, env=env,
                                   stdout=log, stderr=subprocess.STDOUT)
    try:
        def live():
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/hash", timeout=2) as response:
                    body = json.loads(response.read())
                return body["status"]["camera"]["state"] == "live" and body["frame"] is not None and body
            except OSError:
                return None

        body = wait_until(live, timeout=90, interval=0.5)
        assert body, log_path.read_text()[-3000:]
        assert body["status"]["model"] == "Dlib"  # no Facenet weights in the test's DeepFace home
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    log = log_path.read_text()
    assert "model Dlib" in log and "detectors: live " in log and f"source: {CLIP}" in log
    assert "place facenet_weights.h5 there or run with --model Dlib" in log


def test_a_network_address_without_an_api_key_is_refused(tmp_path):
    env = dict(os.environ, FACE_HOST="0.0.0.0", FACE_SOURCE="none", FACE_DATA_DIR=str(tmp_path / "db"),
               FACE_KEY_FILE=str(tmp_path / "keys" / "store.key"))
    env.pop("FACE_API_KEY", None)
    done = subprocess.run([sys.executable, str(ROOT / "run.py")], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 2
    assert "refusing to serve on 0.0.0.0 without an API key" in done.stderr and "--insecure" in done.stderr
    assert not (tmp_path / "db").exists()  # refused before touching anything


def test_api_key_and_insecure_settings():
    assert parse_config([], env={"FACE_API_KEY": "k"}).server.api_key == "k"
    assert parse_config(["--insecure"], env={}).server.insecure is True
    from run import is_loopback

    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5") and not is_loopback("example.org")
