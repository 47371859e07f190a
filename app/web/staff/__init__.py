"""Booking pages every staff role shares: the booking detail, cancel (with a confirmation
step) and reschedule. Providers reach only their own visits: the booking services
answer 404 for anything else (app/booking/actors.py)."""
from flask import Blueprint

from app import roles
from app.web.access import gate_blueprint

bp = Blueprint("staff", __name__)
gate_blueprint(bp, *roles.STAFF)

from app.web.staff import bookings  # noqa: E402,F401
