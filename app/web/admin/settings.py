"""The organization's settings (admins only): its name, slot sampling and hold length."""
from __future__ import annotations

from flask import render_template, url_for
from flask_login import current_user

from app.clinic import organization
from app.queries import admin as queries
from app.web.admin import admin_only, bp
from app.web.admin.forms import SettingsForm
from app.web.admin.submit import Saved, form_page


@bp.route("/settings", methods=["GET", "POST"])
@admin_only
def settings():
    org = queries.organization(current_user.organization_id)
    form = SettingsForm(obj=org)

    def save(_) -> Saved:
        saved = organization.update_settings(org.id, name=form.name.data, hold_minutes=form.hold_minutes.data,
                                             slot_exposure_enabled=form.slot_exposure_enabled.data,
                                             max_live_holds=form.max_live_holds.data)
        sampling = "Patients see a few suggested times" if saved.slot_exposure_enabled else "Patients see every time"
        return Saved(url_for("admin.settings"),
                     f"Settings are saved. {sampling}; new holds last {saved.hold_minutes} minutes; "
                     f"one person may hold {saved.max_live_holds} at once.")

    return form_page(form, lambda f: render_template(
        "admin/settings.html", form=f, org=org,
        hold_range=(organization.HOLD_MINUTES_MIN, organization.HOLD_MINUTES_MAX),
        cap_range=(organization.MAX_LIVE_HOLDS_MIN, organization.MAX_LIVE_HOLDS_MAX)), save)
