"""POST /anonymize in /openapi.json."""
from __future__ import annotations

from webapp.openapi_doc.parts import IMAGE, error_answers

ANONYMIZE_PATHS = {"/anonymize": {"post": {
    "summary": "the photo back as a JPEG with its faces hidden: pixelated, or replaced by synthetic avatars",
    "description": "Every face (hide=all) or every face not confirmed as an enrolled person (hide=unknown) is "
                   "hidden, turned faces too; with=avatar draws a cartoon head over each face large enough for "
                   "its landmarks (40 px), following its tilt, eyes and mouth, its look drawn at random (nothing "
                   "of the face), and pixelates the rest. X-Faces-Hidden says how many. Made in memory; nothing "
                   "sent is kept.",
    "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
        "type": "object", "required": ["image"], "properties": {
            "image": IMAGE, "hide": {"enum": ["all", "unknown"], "default": "all"},
            "with": {"enum": ["pixels", "avatar"], "default": "pixels"}}}}}},
    "responses": {"200": {"description": "the photo, its faces hidden", "content": {"image/jpeg": {}}},
                  **error_answers(400, 413, 415)}}}}
