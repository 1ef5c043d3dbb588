"""A camera for the browser tests with a person in front of it who follows the page's prompts
(prompted_camera.js): the footage of a real head (tests/footage.py Person), turning when asked."""
from __future__ import annotations

import base64
from pathlib import Path

import cv2

from tests.support.clips import letterbox
from tests.footage import REACTION, Person, ping_pong

SCRIPT = Path(__file__).with_name("prompted_camera.js")
SIZE = (640, 480)


def install(context, performer: Person, *, speed: float = 1.0, reaction: float = REACTION) -> None:
    """Give every page of the browser context the performer in place of its camera: speed, times the
    footage's pace; reaction, seconds from a move's prompt to the head starting it."""

    def encoded(frames) -> list[str]:
        return [base64.b64encode(cv2.imencode(".jpg", letterbox(frame, SIZE), [cv2.IMWRITE_JPEG_QUALITY, 92])[1])
                .decode() for frame in frames]

    footage = {"right": encoded(performer.right), "hold": encoded(ping_pong(performer.hold)), "speed": speed,
               "reaction": reaction}
    context.expose_function("promptedFootage", lambda: footage)
    context.add_init_script(path=str(SCRIPT))
