"""Several cameras in one server, built as run.py builds them (services/camera_builder.py), each playing
a video file: for the cameras' tests, the page test and the benchmark."""
from __future__ import annotations

import threading
from typing import Optional

from camera.specs import CameraSpec


def camera_rig(store, analyzer, cameras: dict[str, str], *, cores: int = 1, api_key: Optional[str] = None,
               blur: str = "none", sweep=None, events=None, **parts_options):
    """Parts with one camera per name -> source, started; stop with stop_rig(parts)."""
    from recognition.live.budget import RecognitionBudget
    from recognition.live.sweeping import SharedSweep
    from recognition.models.detectors import make_detector
    from services.camera_builder import CameraBuilder, StreamDefaults
    from services.cameras import Cameras
    from webapp.parts import Parts

    stopping = threading.Event()
    budget = RecognitionBudget(cores)
    build = CameraBuilder(analyzer, stopping, lambda role: make_detector("blazeface"), budget=budget,
                          sweep=SharedSweep(sweep) if sweep is not None else None,
                          stream=StreamDefaults(blur=blur), events=events)
    watched = Cameras([build(CameraSpec(name, source)) for name, source in cameras.items()], build=build,
                      budget=budget)
    if events is not None:
        parts_options["events"] = events
    parts = Parts.build(store, analyzer, cameras=watched, stopping=stopping, api_key=api_key, **parts_options)
    watched.start()
    return parts


def stop_rig(parts) -> None:
    parts.stopping.set()
    parts.cameras.stop(timeout=5)
