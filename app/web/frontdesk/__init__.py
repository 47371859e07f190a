from flask import Blueprint

from app.web.access import gate_blueprint

bp = Blueprint("frontdesk", __name__)
gate_blueprint(bp, "frontdesk", "manager", "admin")

from app.web.frontdesk import booking, day, patients, routes  # noqa: E402,F401
