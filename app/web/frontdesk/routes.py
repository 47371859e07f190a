from flask import render_template
from flask_login import current_user

from app.queries import bookings, clinic
from app.web.frontdesk import bp


@bp.get("/")
def home():
    org_id = current_user.organization_id
    locations = clinic.locations(org_id)
    return render_template(
        "frontdesk/home.html",
        queue=bookings.pending_requests(org_id),
        today=[(location, bookings.today_at_location(org_id, location)) for location in locations],
    )
