"""Serving photos: only through this route, only to users whose scope includes them."""

from __future__ import annotations

from flask import Blueprint, Response, abort
from flask_login import current_user, login_required

from fieldwork.access.scope import get_photo_or_404
from fieldwork.photos.storage import photo_key, photo_store, thumb_key

bp = Blueprint("photos", __name__, url_prefix="/photos")


def _serve(photo_id: str, key_of) -> Response:
    photo = get_photo_or_404(current_user, photo_id)
    if not photo.stored:
        abort(404)
    data = photo_store().get(key_of(photo.id))
    if data is None:
        abort(404)
    response = Response(data, mimetype="image/jpeg")
    # Private: a shared cache must never keep a household's photo.
    response.headers["Cache-Control"] = "private, max-age=604800, immutable"
    response.headers["Content-Disposition"] = "inline"
    return response


@bp.get("/<photo_id>.jpg")
@login_required
def full(photo_id: str):
    return _serve(photo_id, photo_key)


@bp.get("/<photo_id>/thumb.jpg")
@login_required
def thumb(photo_id: str):
    return _serve(photo_id, thumb_key)
