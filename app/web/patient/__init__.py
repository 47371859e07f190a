from flask import Blueprint

bp = Blueprint("patient", __name__)

from app.web.patient import booking, manage, routes  # noqa: E402,F401
