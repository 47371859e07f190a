from flask import Blueprint

from app import roles
from app.web.access import gate_blueprint

bp = Blueprint("provider", __name__)
gate_blueprint(bp, roles.PROVIDER)

from app.web.provider import blocks, calendars, hours, insights, routes  # noqa: E402,F401
