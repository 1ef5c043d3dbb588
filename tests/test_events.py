"""Events: who is in view, told once per presence (not per frame), kept in a bounded ring in memory, and
streamed over real HTTP as Server-Sent Events that resume with Last-Event-ID. The camera's results are
given here as a worker gives them (FaceObservations with tracks), with a manual clock."""
from __future__ import annotations

import json
import threading
import time
from dataclasses import replace

import numpy as np
import pytest
import requests

from recognition.faces import Box, FaceObservation
from recognition.live.events import APPEARED, LEFT, NAMED, VISITOR, CameraEvents, FaceEvent
from services.events import EventBus
from tests.support.sse import read_sse
from webapp import create_app
from webapp.parts import Parts

BOX = Box(100, 80, 60, 60)


def face(track: int, identity: str | None = None, name: str | None = None, visitor: str | None = None) -> FaceObservation:
    return FaceObservation(BOX, np.zeros(4, np.float32), identity, name, 0.97 if identity else None, track, visitor)


def collect(leave_after: float = 3.0):
    told: list[FaceEvent] = []
    return CameraEvents("door", told.append, leave_after=leave_after), told


def test_a_person_standing_in_view_is_named_once_and_leaves_once():
    events, told = collect()
    for frame in range(100):  # 20 s at 5 analysed frames a second
        events.observe([face(1, None if frame < 3 else "h-ada", None if frame < 3 else "Ada")], at=frame * 0.2)
    assert [event.kind for event in told] == [APPEARED, NAMED]
    named = told[1]
    assert (named.camera, named.track, named.identity_hash, named.name, round(named.at, 6)) == ("door", 1, "h-ada", "Ada", 0.6)
    assert "embedding" not in json.dumps(named.to_json()) and set(named.to_json()) == {
        "id", "type", "camera", "track", "hash", "name", "similarity", "visitor", "at"}
    for frame in range(100, 130):  # gone: left once, after leave_after
        events.observe([], at=frame * 0.2)
    assert [event.kind for event in told] == [APPEARED, NAMED, LEFT]
    assert told[2].identity_hash == "h-ada" and told[2].at > 19.8 + 3  # last seen at 19.8 s


def test_a_person_lost_by_the_tracker_for_a_moment_is_not_named_again():
    events, told = collect()
    for frame in range(10):
        events.observe([face(1, "h-ada", "Ada")], at=frame * 0.2)
    for frame in range(10, 15):  # a second out of view (turned away, someone passing in front)
        events.observe([], at=frame * 0.2)
    for frame in range(15, 30):  # found again as a new track
        events.observe([face(2, "h-ada", "Ada")], at=frame * 0.2)
    kinds = [(event.kind, event.track) for event in told]
    assert kinds == [(APPEARED, 1), (NAMED, 1), (APPEARED, 2)]


def test_nobody_leaves_while_recognition_stalls():
    events, told = collect()
    events.observe([face(1, "h-ada", "Ada")], at=0.0)
    # No result for 4.5 s (the model restarting) while she walked across: a new track elsewhere, not yet named.
    moved = Box(700, 90, 60, 60)
    for frame, at in enumerate((4.5, 4.7, 4.9, 5.1)):
        events.observe([replace(face(2, *(("h-ada", "Ada") if frame == 3 else ())), box=moved)], at=at)
    assert [event.kind for event in told] == [APPEARED, NAMED, APPEARED]  # a face appeared there; Ada never left
    for frame in range(1, 10):
        events.observe([], at=5.1 + frame * 0.5)
    assert [event.kind for event in told] == [APPEARED, NAMED, APPEARED, LEFT]


def test_newcomers_elsewhere_in_a_crowd_never_keep_someone_who_left():
    events, told = collect()
    for frame in range(5):
        events.observe([face(1, "h-ada", "Ada")], at=frame * 0.2)
    for frame in range(5, 40):  # Ada is gone; a new stranger comes into view somewhere else every 0.6 s
        newcomer = 100 + frame // 3
        events.observe([replace(face(newcomer), box=Box(300 + 40 * (frame % 12), 400, 60, 60))], at=frame * 0.2)
    left = [event.at for event in told if event.kind == LEFT and event.identity_hash == "h-ada"]
    assert len(left) == 1 and left[0] <= 0.8 + 3 + 0.6


def test_a_new_face_beside_someone_listed_after_it_is_not_taken_for_them():
    events, told = collect()
    events.observe([face(1, "h-ada", "Ada"), replace(face(2, "h-bo", "Bo"), box=Box(400, 80, 60, 60))], at=0.0)
    # The new track comes first in the result, within reach of Bo, who is still in view (listed after it).
    events.observe([replace(face(3), box=Box(450, 80, 60, 60)), replace(face(2, "h-bo", "Bo"), box=Box(400, 80, 60, 60)),
                    face(1, "h-ada", "Ada")], at=0.2)
    assert (APPEARED, 3) in [(event.kind, event.track) for event in told]


def test_someone_in_view_for_an_hour_keeps_no_track_that_is_gone():
    events, told = collect()
    for frame in range(18_000):  # an hour at 5 results a second; the tracker starts a new track every second
        events.observe([face(1 + frame // 5, "h-ada", "Ada")], at=frame * 0.2)
    assert [event.kind for event in told if event.kind != APPEARED] == [NAMED]
    assert len(events._tracks) <= 20 and len(events._track_seen) <= 20 and len(events._present) == 1


def test_a_walker_the_tracker_keeps_losing_appears_once():
    events, told = collect()
    for frame in range(20):  # a new track every two frames, each a little further along
        step = replace(face(frame // 2 + 1), box=Box(100 + 30 * frame, 80, 60, 60))
        events.observe([step], at=frame * 0.2)
    assert [(event.kind, event.track) for event in told] == [(APPEARED, 1)]
    for frame in range(3):
        events.observe([], at=10.0 + frame * 0.2)
    assert [event.kind for event in told] == [APPEARED, LEFT]


def test_someone_else_in_the_same_place_is_not_taken_for_the_one_before():
    events, told = collect()
    events.observe([face(1, "h-ada", "Ada")], at=0.0)
    events.observe([replace(face(2), box=Box(600, 80, 60, 60))], at=0.2)  # far from Ada: a new face
    events.observe([face(3, "h-bo", "Bo")], at=0.4)  # where Ada was, but already named Bo
    assert [(event.kind, event.track) for event in told] == [(APPEARED, 1), (NAMED, 1), (APPEARED, 2),
                                                                (APPEARED, 3), (NAMED, 3)]


def test_the_state_is_who_the_events_say_is_in_view():
    states = []
    events = CameraEvents("door", lambda event: None, states.append, leave_after=1.0)
    for frame in range(10):  # detected in every other frame only: the state does not flicker
        events.observe([face(1, "h-ada", "Ada")] if frame % 2 == 0 else [], at=frame * 0.2)
    assert [(state.people, state.unknown) for state in states] == [((("h-ada", "Ada"),), 0)]
    assert states[0].summary == "Ada" and states[0].to_json()["count"] == 1
    for frame in range(3):
        events.observe([], at=5.0 + frame * 0.2)
    assert states[-1].summary == "nobody" and len(states) == 2


def test_a_stranger_is_told_by_visitor_id_and_a_face_told_apart_later_by_name():
    events, told = collect()
    events.observe([face(1), face(2)], at=0.0)
    events.observe([face(1, visitor="v-1"), face(2)], at=0.2)
    events.observe([face(1, visitor="v-1"), face(2, "h-bo", "Bo")], at=0.4)
    assert [(event.kind, event.track) for event in told] == [(APPEARED, 1), (APPEARED, 2), (VISITOR, 1), (NAMED, 2)]
    assert told[2].visitor == "v-1" and told[2].identity_hash is None
    events.close(at=1.0)  # the camera is removed: everyone in view leaves, once each
    left = [(event.visitor, event.identity_hash) for event in told if event.kind == LEFT]
    assert sorted(left, key=str) == sorted([("v-1", None), (None, "h-bo")], key=str)


def test_two_people_one_after_the_other_each_get_their_events():
    events, told = collect(leave_after=1.0)
    for frame in range(10):
        events.observe([face(1, "h-ada", "Ada")], at=frame * 0.2)
    for frame in range(10, 30):
        events.observe([face(2, "h-bo", "Bo")], at=frame * 0.2)
    assert [(event.kind, event.identity_hash) for event in told] == [
        (APPEARED, "h-ada"), (NAMED, "h-ada"), (APPEARED, "h-bo"), (NAMED, "h-bo"), (LEFT, "h-ada")]


def test_the_ring_resumes_after_an_id_and_says_when_events_were_lost():
    bus = EventBus(keep=5)
    first = [bus.publish(FaceEvent(APPEARED, "door", float(n), track=n)) for n in range(3)]
    batch = bus.after(first[0].id, timeout=0)
    assert [event.track for event in batch.events] == [1, 2] and not batch.lost
    assert bus.after(first[2].id, timeout=0.05).events == ()  # nothing new: waits, then nothing
    for n in range(3, 12):
        bus.publish(FaceEvent(APPEARED, "door", float(n), track=n))
    behind = bus.after(first[2].id, timeout=0)  # events 4..6 fell out of a ring of five
    assert behind.lost and [event.track for event in behind.events] == [7, 8, 9, 10, 11]
    other_run = bus.after("abcdef-3", timeout=0)
    assert other_run.lost and len(other_run.events) == 5
    assert bus.after(behind.last_id, timeout=0).events == ()
    assert bus.after("nonsense", timeout=0).lost


def test_publishing_never_waits_for_a_reader():
    bus = EventBus(keep=100)
    started = time.monotonic()
    for n in range(10_000):  # nobody reads: the ring keeps the newest hundred, nothing grows
        bus.publish(FaceEvent(APPEARED, "door", float(n), track=n))
    assert time.monotonic() - started < 5 and len(bus.after("x-0", timeout=0).events) == 100


def test_events_stream_over_http_and_resume_with_last_event_id(store, analyzer, live_server):
    parts = Parts.build(store, analyzer, api_key="events-key")
    server = live_server(create_app(parts))
    headers = {"X-API-Key": "events-key"}
    assert requests.get(server.url + "/events", timeout=5).status_code == 401
    assert requests.get(server.url + "/events?types=named,hugged", headers=headers, timeout=5).status_code == 400
    assert requests.get(server.url + "/events?camera=garden", headers=headers, timeout=5).status_code == 404
    with requests.get(server.url + "/events?types=named,left", headers=headers, stream=True, timeout=10) as stream:
        assert stream.headers["Content-Type"].startswith("text/event-stream")

        def publish():
            time.sleep(0.3)
            for n, kind in enumerate([APPEARED, NAMED, LEFT]):
                parts.events.publish(FaceEvent(kind, "door", 100.0 + n, track=1, identity_hash="h-ada", name="Ada"))

        threading.Thread(target=publish).start()
        got = read_sse(stream, 2)
    assert [(event["event"], event["data"]["type"], event["data"]["name"]) for event in got] == [
        ("named", "named", "Ada"), ("left", "left", "Ada")]
    assert got[0]["data"]["id"] == got[0]["id"]
    # A client that comes back with the id it saw last gets what followed, and nothing twice.
    parts.events.publish(FaceEvent(NAMED, "door", 200.0, track=2, identity_hash="h-bo", name="Bo"))
    with requests.get(server.url + "/events", headers={**headers, "Last-Event-ID": got[0]["id"]}, stream=True,
                      timeout=10) as resumed:
        again = read_sse(resumed, 2)
    assert [(event["event"], event["data"]["name"]) for event in again] == [("left", "Ada"), ("named", "Bo")]
    with requests.get(server.url + "/events", headers={**headers, "Last-Event-ID": "gone-7"}, stream=True,
                      timeout=10) as stale:
        first = read_sse(stale, 1)
    assert first[0]["event"] == "lost"


@pytest.mark.slow  # megabytes of events through a real socket, and a second's wait for the stalled client
def test_a_client_that_never_reads_is_disconnected_and_its_slot_freed(store, analyzer, live_server):
    import socket as sockets

    from tests.conftest import wait_until
    from webapp.routes.live import VIEWERS

    parts = Parts.build(store, analyzer, max_viewers=2)
    app = create_app(parts)
    server = live_server(app, stalled_after=1.0)
    port = int(server.url.rsplit(":", 1)[1])
    stalled = sockets.socket()
    stalled.setsockopt(sockets.SOL_SOCKET, sockets.SO_RCVBUF, 4096)  # takes little, then reads nothing at all
    stalled.connect(("127.0.0.1", port))
    stalled.sendall(b"GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    try:
        slots = app.extensions[VIEWERS]
        assert wait_until(lambda: slots._taken == 1, timeout=5)
        event = FaceEvent(APPEARED, "door", 1.0, track=1, name="x" * 200)
        for _ in range(200):  # far more than the server buffers for one client (2 MB), paced so the stream keeps up
            for _ in range(150):
                parts.events.publish(event)
            time.sleep(0.01)
        # Publishing never waited; the stream's thread waited for the client, gave up, and freed its slot.
        assert wait_until(lambda: slots._taken == 0, timeout=15)
        with requests.get(server.url + "/events", stream=True, timeout=10) as fresh:
            assert fresh.status_code == 200
    finally:
        stalled.close()
