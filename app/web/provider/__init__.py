from flask import Blueprint

from app.web.access import gate_blueprint

bp = Blueprint("provider", __name__)
gate_blueprint(bp, "provider")

from app.web.provider import blocks, calendars, hours, insights, routes  # noqa: E402,F401
