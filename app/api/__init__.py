"""JSON API: /api/v1 (users) and /api/admin/v1 (staff). See docs/api.md."""
from flask import Blueprint

from app.extensions import csrf

api_v1 = Blueprint("api_v1", __name__)
admin_v1 = Blueprint("admin_v1", __name__)
csrf.exempt(api_v1)  # bearer tokens, not cookies: no CSRF exposure
csrf.exempt(admin_v1)

from app.api import admin_bookings, admin_routes, booking_routes, password_routes, public_routes  # noqa: E402,F401
from app.api import calendar_routes  # noqa: E402,F401
