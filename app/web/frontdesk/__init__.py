from flask import Blueprint

from app import roles
from app.web.access import gate_blueprint

bp = Blueprint("frontdesk", __name__)
gate_blueprint(bp, *roles.CLINIC_DESK)

from app.web.frontdesk import booking, day, patients, routes  # noqa: E402,F401
