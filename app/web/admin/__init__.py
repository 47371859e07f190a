"""The clinic administration: overview, configuration, people and settings.

Managers and admins may enter; users and roles and the organization's settings
are for admins only (`admin_only`)."""
from functools import wraps

from flask import Blueprint, abort
from flask_login import current_user

from app import roles
from app.web.access import gate_blueprint

bp = Blueprint("admin", __name__)
gate_blueprint(bp, *roles.SETUP)


def admin_only(view):
    @wraps(view)
    def wrapped(*args, **kwargs):
        if current_user.role != "admin":
            abort(403)
        return view(*args, **kwargs)

    return wrapped


from app.web.admin import appointment_types, calendars, hours, people, places, providers, routes, settings  # noqa: E402, F401,E501
