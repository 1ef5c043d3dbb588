import threading

import numpy as np

from camera.frames import FrameBuffer


def test_wait_newer_times_out_with_none_when_nothing_arrives():
    buffer = FrameBuffer()
    assert buffer.wait_newer(0, timeout=0.1) is None


def test_wait_newer_returns_the_latest_frame_only():
    buffer = FrameBuffer()
    image = np.zeros((2, 2, 3), dtype=np.uint8)
    for index in range(3):
        buffer.publish(image, index)
    frame = buffer.wait_newer(0, timeout=0.1)
    assert (frame.seq, frame.source_index) == (3, 2)
    assert buffer.wait_newer(frame.seq, timeout=0.05) is None


def test_a_waiting_reader_wakes_on_publish():
    buffer = FrameBuffer()
    threading.Timer(0.05, buffer.publish, args=(np.zeros((2, 2, 3), np.uint8), None)).start()
    frame = buffer.wait_newer(0, timeout=5.0)
    assert frame is not None and frame.seq == 1  # woke on publish: a timeout would give None
