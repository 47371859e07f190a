"""Providers: list, add (optionally with their sign-in) and edit (managers and admins)."""
from __future__ import annotations

from flask import abort, render_template, url_for
from flask_login import current_user

from app.api.schemas import ProviderCreate, ProviderUpdate
from app.clinic import setup, staff
from app.errors import BookwellError
from app.models import Location, Provider
from app.queries import admin as queries
from app.web.admin import bp
from app.web.admin.forms import ProviderCreateForm, ProviderEditForm, ProviderForm, options, zone_choices
from app.web.admin.submit import Saved, form_page


def _location_choices(form: ProviderForm, locations: list[Location]) -> None:
    form.location_ids.choices = options((str(loc.id), loc.name if loc.is_active else f"{loc.name} (inactive)")
                                        for loc in locations)


def _render(form: ProviderForm, provider: Provider | None):
    sign_in = queries.sign_ins_by_provider(current_user.organization_id).get(provider.id) if provider else None
    return render_template("admin/provider_form.html", form=form, provider=provider, sign_in=sign_in)


@bp.get("/providers")
def providers():
    org_id = current_user.organization_id
    return render_template("admin/providers.html", providers=queries.all_providers(org_id),
                           sign_ins=queries.sign_ins_by_provider(org_id))


@bp.route("/providers/new", methods=["GET", "POST"])
def new_provider():
    org_id = current_user.organization_id
    locations = queries.all_locations(org_id)
    form = ProviderCreateForm()
    if not form.is_submitted():
        form.timezone.data = locations[0].timezone if locations else "UTC"
    form.timezone.choices = zone_choices(form.timezone.data)
    _location_choices(form, locations)

    def save(shaped: ProviderCreate) -> Saved:
        email, password = form.login_email.data, form.login_password.data
        if email:
            staff.check_sign_in(email, password or None, org_id)  # refused before the provider exists, so nothing is written
        provider = setup.create_provider(org_id, name=shaped.name, location_ids=shaped.location_ids,
                                         timezone=shaped.timezone, specialty=shaped.specialty, bio=shaped.bio)
        if not email:
            return Saved(url_for("admin.providers"), f"{provider.display_name} is added.")
        try:
            staff.create_staff_user(org_id, email=email, password=password, full_name=provider.display_name,
                                    role="provider", provider_id=provider.id)
        except BookwellError as error:  # someone took the email since the check
            return Saved(url_for("admin.edit_provider", provider_id=provider.id),
                         f"{provider.display_name} is added, but their sign-in is not: {error.message}", "warning")
        if not password:
            return Saved(url_for("admin.providers"), f"{provider.display_name} is added; we emailed {email} a link "
                         "to choose a password.")
        return Saved(url_for("admin.providers"), f"{provider.display_name} is added and can sign in as {email}.")

    return form_page(form, lambda f: _render(f, None), save, lambda f: ProviderCreate.model_validate(f.payload()))


@bp.route("/providers/<uuid:provider_id>", methods=["GET", "POST"])
def edit_provider(provider_id):
    org_id = current_user.organization_id
    provider = queries.owned(Provider, org_id, provider_id)
    if provider is None:
        abort(404)
    form = ProviderEditForm(data={
        "name": provider.display_name, "specialty": provider.specialty, "timezone": provider.timezone,
        "location_ids": [str(loc.id) for loc in provider.locations], "bio": provider.bio,
        "is_active": provider.is_active,
    })
    form.timezone.choices = zone_choices(provider.timezone)
    _location_choices(form, queries.all_locations(org_id))

    def save(shaped: ProviderUpdate) -> Saved:
        saved = setup.update_provider(org_id, provider.id, shaped.model_dump())
        return Saved(url_for("admin.providers"), f"{saved.display_name} is saved.")

    return form_page(form, lambda f: _render(f, provider), save, lambda f: ProviderUpdate.model_validate(f.payload()))
