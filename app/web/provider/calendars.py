"""The provider's external calendars: connect CalDAV or an ICS URL, choose calendars, sync now,
disconnect, and the private feed URL (copy, rotate). Each form runs once per token; a refusal
becomes a message at the top of the page."""
from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user

from app.calendars import connections, feed_export
from app.links import external_url
from app.web.once import new_token, run_once
from app.web.provider import bp
from app.web.staff_actions import flash_outcome, form_text


def _back():
    return url_for("provider.calendars")


@bp.get("/calendars")
def calendars():
    org_id, provider = current_user.organization_id, current_user.provider
    rows = [connections.connection_view(c) for c in connections.list_connections(org_id, provider.id)]
    feed = external_url("calendar_feed.feed", token=feed_export.feed_token(org_id, provider.id))
    return render_template("provider/calendars.html", provider=provider, connections=rows, feed_url=feed,
                           form_token=new_token(), google_enabled=connections.google_enabled())


@bp.post("/calendars/caldav")
def connect_caldav():
    def handler():
        return flash_outcome(lambda: connections.create_connection(
            current_user.organization_id, current_user.provider_id, "caldav", url=form_text("url", 2000),
            username=form_text("username", 320), password=request.form.get("password") or None,
            display_name=form_text("display_name", 200)),
            "Calendar connected. Bookwell is reading it now; choose below which calendars block your time.",
            _back())
    return run_once(handler)


@bp.post("/calendars/google")
def connect_google():
    """Start the Google OAuth flow; the state is bound to this session as well as to the connection."""
    from flask import session

    from app.calendars.feed_routes import SESSION_KEY, google_redirect_uri
    from app.errors import BookwellError

    def handler():
        try:
            created = connections.create_connection(current_user.organization_id, current_user.provider_id,
                                                    "google", redirect_uri=google_redirect_uri())
        except BookwellError as error:
            flash(error.message, "warning")
            return redirect(_back(), code=303)
        session[SESSION_KEY] = created.oauth_state
        return redirect(created.authorize_url, code=303)
    return run_once(handler)


@bp.post("/calendars/ics")
def connect_ics():
    def handler():
        return flash_outcome(lambda: connections.create_connection(
            current_user.organization_id, current_user.provider_id, "ics", url=form_text("url", 2000),
            display_name=form_text("display_name", 200)),
            "Feed added. Its busy times block your bookable hours after the first sync.", _back())
    return run_once(handler)


@bp.post("/calendars/<uuid:connection_id>/choose")
def choose_calendars(connection_id):
    def handler():
        connection = connections.get_connection(current_user.organization_id, connection_id,
                                                current_user.provider_id)
        blocking = set(request.form.getlist("blocks"))
        destination = request.form.get("destination", "")
        choices = [{"id": source.id, "blocks_time": str(source.id) in blocking,
                    "is_destination": str(source.id) == destination} for source in connection.sources]
        return flash_outcome(lambda: connections.update_calendars(
            current_user.organization_id, connection_id, choices, current_user.provider_id),
            "Saved. Busy times follow your choice.", _back())
    return run_once(handler)


@bp.post("/calendars/<uuid:connection_id>/sync")
def sync_now(connection_id):
    return run_once(lambda: flash_outcome(lambda: connections.request_sync(
        current_user.organization_id, connection_id, current_user.provider_id),
        "Syncing now. This page shows the result in a moment.", _back()))


@bp.post("/calendars/<uuid:connection_id>/disconnect")
def disconnect(connection_id):
    return run_once(lambda: flash_outcome(lambda: connections.delete_connection(
        current_user.organization_id, connection_id, current_user.provider_id),
        "Disconnected. Its password and busy times are gone from Bookwell.", _back()))


@bp.post("/calendars/feed/rotate")
def rotate_feed():
    def handler():
        feed_export.rotate(current_user.organization_id, current_user.provider_id)
        flash("New feed address made. The old one no longer works: update your calendar app.", "success")
        return redirect(_back(), code=303)
    return run_once(handler)
