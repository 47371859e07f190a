"""Every external calendar connection of the clinic with its health (red when the last
success is older than three poll intervals)."""
from __future__ import annotations

from flask import render_template
from flask_login import current_user
from sqlalchemy import select

from app.calendars import connections
from app.extensions import db
from app.models import Provider
from app.web.admin import bp


@bp.get("/calendars")
def calendars():
    org_id = current_user.organization_id
    names = dict(db.session.execute(select(Provider.id, Provider.display_name)
                                    .where(Provider.organization_id == org_id)).all())
    rows = sorted((connections.connection_view(c) for c in connections.list_connections(org_id)),
                  key=lambda row: ({"red": 0, "amber": 1, "green": 2}[row["health"]], names.get(row["provider_id"], "")))
    counts = {colour: sum(1 for r in rows if r["health"] == colour) for colour in ("red", "amber", "green")}
    return render_template("admin/calendars.html", rows=rows, names={str(k): v for k, v in names.items()},
                           counts=counts, section="calendars")
