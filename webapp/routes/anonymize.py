"""POST /anonymize: a photo back with its faces hidden (pixelated or avatars), made in memory; nothing kept."""
from __future__ import annotations

import cv2
from flask import Blueprint, Response, request

from services.anonymize import HIDE, WITH
from webapp.current import parts
from webapp.http import inputs
from webapp.http.errors import ApiError
from webapp.http.throttle import runs_the_model

bp = Blueprint("anonymize", __name__)


@bp.post("/anonymize")
@runs_the_model
def anonymize():
    hide, with_ = request.form.get("hide", "all"), request.form.get("with", "pixels")
    if hide not in HIDE:
        raise ApiError(400, f"'hide' is one of {', '.join(HIDE)} (every face, or those not of a known person), "
                            f"not {hide!r}")
    if with_ not in WITH:
        raise ApiError(400, f"'with' is one of {', '.join(WITH)}, not {with_!r}")
    image = inputs.decode_upload(inputs.image_bytes("image"), "image")
    hidden, count = parts().anonymizer.anonymize(image, hide=hide, with_=with_)
    ok, encoded = cv2.imencode(".jpg", hidden, [cv2.IMWRITE_JPEG_QUALITY, 90])
    if not ok:
        raise ApiError(500, "the photo could not be encoded")
    return Response(encoded.tobytes(), mimetype="image/jpeg",
                    headers={"Cache-Control": "no-store", "X-Faces-Hidden": str(count)})
