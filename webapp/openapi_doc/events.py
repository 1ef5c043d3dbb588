"""The events' and the metrics' routes in /openapi.json."""
from __future__ import annotations

from webapp.openapi_doc.parts import ERROR, TEXT, error_answers, json_answer

EVENT = {"type": "object", "description": "the data of each event (never an image or a vector)", "properties": {
    "id": TEXT, "type": {"enum": ["appeared", "named", "visitor", "left"]}, "camera": TEXT,
    "track": {"type": ["integer", "null"]}, "hash": {"type": ["string", "null"]}, "name": {"type": ["string", "null"]},
    "similarity": {"type": ["number", "null"]},
    "visitor": {"type": ["string", "null"], "description": "a stranger's anonymous id, in memory only"},
    "at": {"type": "number", "description": "unix time of the frame"}}}

EVENTS_PATHS = {
    "/events": {"get": {
        "summary": "the cameras' events as Server-Sent Events: appeared, named (once per person in view, not per "
                   "frame), visitor (a stranger) and left; resumable with Last-Event-ID from the events kept in "
                   "memory; a client that falls behind them is dropped and, when it resumes, told with a `lost` event",
        "parameters": [
            {"name": "camera", "in": "query", "schema": TEXT, "description": "one camera's events only"},
            {"name": "types", "in": "query", "schema": TEXT,
             "description": "comma-separated kinds to receive (appeared, named, visitor, left); default all"},
            {"name": "Last-Event-ID", "in": "header", "schema": TEXT,
             "description": "resume after this event (EventSource sends it when it reconnects)"}],
        "responses": {"200": {"description": "an endless text/event-stream: `id:`, `event:` (the type) and `data:` "
                                             "(JSON) per event, and a comment line every 15 s of silence",
                              "content": {"text/event-stream": {"schema": EVENT}}},
                      **error_answers(400), "404": json_answer(ERROR, "no camera of that name"),
                      "503": json_answer(ERROR, "too many streams and event clients at once: try again later")}}},
    "/metrics": {"get": {
        "summary": "Prometheus' text format: each camera's frame and recognition rates, faces and named people in "
                   "view; the model's latency; events sent and dropped per sink; the store's size; requests by "
                   "route and status (labels never hold a person's name or hash)",
        "responses": {"200": {"description": "text/plain; version=0.0.4",
                              "content": {"text/plain": {"schema": {"type": "string"}}}}}}},
}
