from flask import Blueprint

from app.web.access import gate_blueprint

bp = Blueprint("admin", __name__)
gate_blueprint(bp, "manager", "admin")

from app.web.admin import routes  # noqa: E402,F401
