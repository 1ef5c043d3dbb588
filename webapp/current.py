"""The app's parts, as views and the HTTP plumbing reach them during a request (kept apart from
webapp/parts.py, which imports the plumbing, so that the plumbing can import this)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from flask import current_app

if TYPE_CHECKING:
    from webapp.parts import Parts

EXTENSION = "faceapp"


def parts() -> "Parts":
    return current_app.extensions[EXTENSION]
