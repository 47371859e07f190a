"""GET /calendar/feed/<token>.ics: the provider's private feed (no sign-in; the token is the key)."""
from __future__ import annotations

from flask import Blueprint, abort

from app.calendars.feed_export import feed_calendar, provider_for_token

bp = Blueprint("calendar_feed", __name__)


@bp.get("/calendar/feed/<token>.ics")
def feed(token: str):
    provider = provider_for_token(token)
    if provider is None:
        abort(404)
    from flask import current_app

    response = current_app.response_class(feed_calendar(provider), mimetype="text/calendar")
    response.headers["Content-Type"] = "text/calendar; charset=utf-8"
    response.headers["Cache-Control"] = "private, max-age=300"
    response.headers["X-Robots-Tag"] = "noindex"
    return response
