from flask import render_template
from flask_login import current_user

from app.queries import bookings, clinic
from app.web.provider import bp

WEEKDAY_NAMES = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


@bp.get("/")
def home():
    provider = current_user.provider
    org_id = current_user.organization_id
    upcoming = bookings.upcoming_for_provider(org_id, provider.id)
    return render_template(
        "provider/home.html",
        provider=provider,
        upcoming=upcoming,
        pending=[b for b in upcoming if b.status == "pending"],
        hours=clinic.weekly_hours(org_id, provider.id),
        locations=clinic.location_names(org_id),
        weekday_names=WEEKDAY_NAMES,
    )
