"""Calendar addresses outside the API: the provider's private feed GET /calendar/feed/<token>.ics
(no sign-in; the token is the key), Google's OAuth callback and its push receiver."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for

from app.calendars.feed_export import feed_calendar, provider_for_token
from app.extensions import csrf
from app.links import external_url

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


SESSION_KEY = "google_oauth_state"


def google_redirect_uri() -> str:
    """The redirect URI a clinic registers with its Google OAuth client (README "Google Calendar")."""
    return external_url("calendar_feed.google_callback")


@bp.get("/calendar/google/callback")
def google_callback():
    """Google sends the person back here: the state must be the connection's (and, when the
    provider page started the flow, this session's); then the code is exchanged with PKCE."""
    from app.calendars import connections
    from app.errors import BookwellError

    from_page = session.pop(SESSION_KEY, None)
    try:
        connections.finish_google(request.args.get("state", ""), request.args.get("code"),
                                  request.args.get("error"), session_state=from_page)
    except BookwellError as error:
        if from_page:
            flash(error.message, "warning")
            return redirect(url_for("provider.calendars"), code=303)
        return render_template("errors/error.html", status=error.status, title="Google Calendar not connected",
                               text=error.message), error.status
    if from_page:
        flash("Google Calendar connected. Bookwell is reading it now; choose below which calendars block "
              "your time and which one receives bookings.", "success")
        return redirect(url_for("provider.calendars"), code=303)
    return render_template("errors/error.html", status=200, title="Google Calendar connected",
                           text="Bookwell is reading the calendars now. You can close this window."), 200


@bp.post("/calendar/google/push")
@csrf.exempt  # Google posts it, no session: the channel token is the credential
def google_push_notice():
    """Google's push notices at the clinic's own address (GOOGLE_PUSH_URL, docs/calendars.md):
    the same receiver, headers and answers as POST /api/v1/calendar/google/push."""
    from flask import current_app

    return current_app.view_functions["api_v1.google_push"]()
