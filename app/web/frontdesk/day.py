"""One day at one location, a column per provider; refreshed live."""
from __future__ import annotations

from datetime import date, timedelta
from zoneinfo import ZoneInfo

from flask import render_template, request
from flask_login import current_user

from app.models import utcnow
from app.queries import agenda_grid, clinic, frontdesk
from app.web.dates import parse_day
from app.web.frontdesk import bp
from app.web.frontdesk.forms import parse_uuid
from app.web.once import new_token


def _chosen_day(value: str | None, today: date) -> date:
    try:
        day = parse_day(value or "")
    except ValueError:
        return today
    return day if abs((day - today).days) <= 3660 else today


@bp.get("/day")
def day():
    org_id = current_user.organization_id
    locations = clinic.locations(org_id)
    location = next((loc for loc in locations if loc.id == parse_uuid(request.args.get("location"))),
                    locations[0] if locations else None)
    tz = location.timezone if location else "UTC"
    now = utcnow()
    today = now.astimezone(ZoneInfo(tz)).date()
    shown = _chosen_day(request.args.get("date"), today)
    layout = "list" if request.args.get("layout") == "list" else "grid"
    columns = frontdesk.day_columns(org_id, location, shown) if location and layout == "list" else []
    grid = agenda_grid.location_grid(org_id, location, shown, now) if location and layout == "grid" else None
    people = frontdesk.providers_at(org_id, location.id) if location else []
    channels = [f"location:{location.id}", *(f"provider:{p.id}" for p in people)] if location else []
    context = {"locations": locations, "location": location, "tz": tz, "day": shown, "today": today,
               "columns": columns, "prev_day": shown - timedelta(days=1), "next_day": shown + timedelta(days=1),
               "channels": ",".join(channels), "form_token": new_token(), "layout": layout, "grid": grid,
               "people": people}
    if request.headers.get("HX-Request"):
        return render_template("frontdesk/_day.html", **context)
    return render_template("frontdesk/day.html", **context)
