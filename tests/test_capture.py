"""The capture thread with real video files standing in for a camera."""
import threading
import time

import pytest

from camera.capture import CaptureThread
from camera.frames import FrameBuffer
from camera.sources import FILE, URL, WEBCAM, SourceSpec, VideoSource, parse_source
from tests.conftest import CLIP, fixture_path, wait_until, write_clip


@pytest.fixture
def run_capture():
    threads = []

    def start(spec, **kwargs):
        buffer = FrameBuffer(spec.label)
        thread = CaptureThread(spec, buffer, **kwargs).start()
        threads.append(thread)
        return buffer, thread

    yield start
    for thread in threads:
        thread.stop(timeout=5)


def collect(buffer, seconds):
    """Every distinct frame a fast reader sees during the given wall time."""
    frames, seq = [], 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        frame = buffer.wait_newer(seq, timeout=0.2)
        if frame:
            frames.append(frame)
            seq = frame.seq
    return frames


def test_source_strings_are_understood():
    assert parse_source("0") == SourceSpec(WEBCAM, "0")
    assert parse_source("rtsp://cam.local/stream").kind == URL
    assert parse_source("clip.mp4").kind == FILE
    assert parse_source("none") is None and parse_source("") is None


class ManualClock:
    """Time that moves only when the capture thread waits: its pacing, without a wall clock."""

    def __init__(self) -> None:
        self.now = 0.0
        self.waits: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds


def test_file_plays_at_its_own_frame_rate_not_as_fast_as_it_decodes(run_capture):
    fixture_path("video/short_hamilton_clip.mp4")
    time_source = ManualClock()
    buffer, _ = run_capture(parse_source(str(CLIP)), clock=time_source.clock, sleep=time_source.sleep)
    assert wait_until(lambda: len(time_source.waits) >= 60, timeout=20)
    # Before each frame after the first, it waits one frame time of the clip (29.97 fps).
    assert all(abs(wait - 1 / 29.97) < 1e-6 for wait in time_source.waits[:60]), time_source.waits[:5]
    frames = collect(buffer, 0.5)
    indices = [f.source_index for f in frames]
    assert len(indices) > 1 and all(a != b for a, b in zip(indices, indices[1:]))
    assert buffer.status.state == "live"


def test_file_loops_like_a_camera(run_capture, tmp_path):
    clip = write_clip(tmp_path / "short.avi", ["obama/obama1.jpg"], seconds_each=0.5, fps=20)
    buffer, _ = run_capture(parse_source(str(clip)))
    seen = []

    def wrapped():
        frame = buffer.wait_newer(seen[-1].seq if seen else 0, timeout=0.2)
        if frame:
            seen.append(frame)
        indices = [f.source_index for f in seen]
        return 9 in indices and indices[-1] < indices[indices.index(9)]

    assert wait_until(wrapped, timeout=10), [f.source_index for f in seen]
    assert buffer.status.state == "live"


def test_missing_source_goes_offline_then_recovers_when_it_appears(run_capture, tmp_path):
    missing = tmp_path / "later.avi"
    buffer, _ = run_capture(parse_source(str(missing)), initial_backoff=0.1, max_backoff=0.3)
    assert wait_until(lambda: buffer.status.state == "offline", timeout=5)
    assert "not found" in buffer.status.detail
    write_clip(missing, ["biden/biden1.jpg"], seconds_each=1.0, fps=20)
    assert wait_until(lambda: buffer.wait_newer(0, 0.1), timeout=10) is not None
    assert buffer.status.state == "live"


def test_unreadable_file_is_offline_and_retried(run_capture, tmp_path):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"this is not a video")
    buffer, thread = run_capture(parse_source(str(broken)), initial_backoff=0.1, max_backoff=0.2)
    assert wait_until(lambda: buffer.status.state == "offline", timeout=5)
    assert buffer.wait_newer(0, 0.3) is None and thread.alive


def test_stop_joins_the_thread(tmp_path):
    fixture_path("video/short_hamilton_clip.mp4")
    buffer = FrameBuffer()
    thread = CaptureThread(parse_source(str(CLIP)), buffer).start()
    assert buffer.wait_newer(0, timeout=5) is not None
    thread.stop(timeout=5)
    assert not thread.alive and buffer.status.state == "stopped"


def test_url_source_that_drops_is_retried_until_it_returns(run_capture, tmp_path):
    """A network camera: another server's MJPEG stream goes away and comes back on the same port."""
    from tests.conftest import LiveServer
    from webapp import create_app
    from webapp.parts import Parts

    clip = write_clip(tmp_path / "upstream.avi", ["kit_harington/kit2.jpg"], seconds_each=1.0, fps=20)
    upstream_frames, _ = run_capture(parse_source(str(clip)))

    def serve(port=0):
        services = Parts.build(store=None, analyzer=None, frames=upstream_frames)
        return services, LiveServer(create_app(services), port=port)

    services, upstream = serve()
    url = upstream.url + "/streaming"
    buffer, _ = run_capture(parse_source(url), initial_backoff=0.2, max_backoff=0.5)
    assert wait_until(lambda: buffer.wait_newer(0, 0.2), timeout=20), buffer.status
    assert buffer.status.state == "live" and buffer.latest.source_index is None  # live, not a file
    services.stopping.set()
    upstream.close()
    assert wait_until(lambda: buffer.status.state == "offline", timeout=20)
    services, upstream = serve(port=int(url.split(":")[2].split("/")[0]))
    try:
        seq = buffer.latest.seq
        assert wait_until(lambda: buffer.wait_newer(seq, 0.2), timeout=20), buffer.status
        assert buffer.status.state == "live"
    finally:
        services.stopping.set()
        upstream.close()


def test_no_webcam_at_the_index_is_reported_and_retried(run_capture):
    buffer, thread = run_capture(parse_source("99"), initial_backoff=0.1, max_backoff=0.2)
    assert wait_until(lambda: buffer.status.state == "offline", timeout=10)
    assert buffer.status.detail == "no camera at index 99"
    assert buffer.wait_newer(0, 0.3) is None and thread.alive  # still trying, never crashed


class HangingCamera:
    """Hardware that hangs: a real clip that, after a few frames, blocks in read() with no error, as a
    wedged webcam or a stream that stops sending does."""

    def __init__(self, spec, frames_before_hanging: int, released: threading.Event) -> None:
        self._inner = VideoSource(spec)
        self._left = frames_before_hanging
        self._released = released
        self.spec, self.fps, self.paced, self.position = spec, self._inner.fps, False, None
        self.closed = False

    def read(self):
        if self._left == 0:
            self._released.wait(60)  # stuck inside the driver
            return None
        self._left -= 1
        return self._inner.read()

    def rewind(self):
        return False

    def close(self):
        self.closed = True
        self._inner.close()


def test_a_camera_that_goes_quiet_is_shown_stalled_and_reopened(run_capture, tmp_path):
    clip = write_clip(tmp_path / "cam.avi", ["obama/obama1.jpg"], seconds_each=2.0, fps=20)
    released = threading.Event()
    opened = []

    def opener(spec):
        camera = HangingCamera(spec, 5, released) if not opened else VideoSource(spec)
        opened.append(camera)
        return camera

    try:
        buffer, thread = run_capture(parse_source(str(clip)), opener=opener, stall_timeout=0.5,
                                     initial_backoff=0.1, max_backoff=0.2)
        assert wait_until(lambda: buffer.status.state == "stalled", timeout=20), buffer.status
        assert "no frame for" in buffer.status.detail and "reconnecting" in buffer.status.detail
        stalled_at = buffer.latest.seq
        assert wait_until(lambda: buffer.status.state == "live" and buffer.latest.seq > stalled_at + 5, timeout=20)
        assert len(opened) >= 2 and thread.alive
    finally:
        released.set()  # the stuck read returns; its abandoned reader closes the source and ends
    assert wait_until(lambda: opened[0].closed, timeout=10)
