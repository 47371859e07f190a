"""Staff users and their roles (admins only): list, add, change a role, switch access off or on."""
from __future__ import annotations

import uuid

from flask import abort, render_template, url_for
from flask_login import current_user

from app.clinic import staff
from app.models import User
from app.queries import admin as queries
from app.web.admin import admin_only, bp
from app.web.admin.forms import ROLE_LABELS, AdminForm, RoleForm, StaffUserForm, options
from app.web.admin.submit import Saved, form_page


def _provider_choices(form: StaffUserForm | RoleForm, user: User | None = None) -> None:
    org_id = current_user.organization_id
    taken = queries.sign_ins_by_provider(org_id)
    form.provider_id.choices = options([("", "Not a provider")] + [
        (str(p.id), p.display_name if p.id not in taken or taken[p.id] == user
         else f"{p.display_name} (signs in as {taken[p.id].full_name})")
        for p in queries.all_providers(org_id)])


def _uuid(value: str | None) -> uuid.UUID | None:
    return uuid.UUID(value) if value else None


def _staff_user(user_id) -> User:
    user = queries.staff_user(current_user.organization_id, user_id)
    if user is None:
        abort(404)
    return user


@bp.get("/users")
@admin_only
def users():
    return render_template("admin/users.html", users=queries.staff_users(current_user.organization_id),
                           role_labels=ROLE_LABELS)


@bp.route("/users/new", methods=["GET", "POST"])
@admin_only
def new_user():
    form = StaffUserForm()
    _provider_choices(form)

    def save(_) -> Saved:
        user = staff.create_staff_user(current_user.organization_id, email=form.email.data, password=form.password.data,
                                       full_name=form.full_name.data.strip(), role=form.role.data,
                                       provider_id=_uuid(form.provider_id.data))
        if not form.password.data:
            return Saved(url_for("admin.users"), f"{user.full_name} is added ({ROLE_LABELS[user.role]}); we emailed "
                         "them a link to choose a password.")
        return Saved(url_for("admin.users"), f"{user.full_name} can now sign in ({ROLE_LABELS[user.role]}).")

    return form_page(form, lambda f: render_template("admin/user_form.html", form=f), save)


def _user_page(user: User, role_form: RoleForm, access_form: AdminForm):
    return render_template("admin/user.html", user=user, role_form=role_form, access_form=access_form,
                           role_labels=ROLE_LABELS)


@bp.route("/users/<uuid:user_id>", methods=["GET", "POST"])
@admin_only
def edit_user(user_id):
    user = _staff_user(user_id)
    form = RoleForm(data={"role": user.role, "provider_id": str(user.provider_id) if user.provider_id else ""})
    _provider_choices(form, user)

    def save(_) -> Saved:
        saved = staff.change_role(current_user.organization_id, user.id, role=form.role.data,
                                  provider_id=_uuid(form.provider_id.data))
        return Saved(url_for("admin.edit_user", user_id=saved.id),
                     f"{saved.full_name} is now {ROLE_LABELS[saved.role].lower()}.")

    return form_page(form, lambda f: _user_page(user, f, AdminForm(formdata=None)), save)


@bp.post("/users/<uuid:user_id>/<any(deactivate, reactivate):change>")
@admin_only
def user_access(user_id, change):
    user = _staff_user(user_id)
    form = AdminForm()
    role_form = RoleForm(formdata=None, data={"role": user.role,
                                              "provider_id": str(user.provider_id) if user.provider_id else ""})
    _provider_choices(role_form, user)

    def save(_) -> Saved:
        enabled = change == "reactivate"
        saved = staff.set_access(current_user.organization_id, user.id, enabled=enabled)
        return Saved(url_for("admin.edit_user", user_id=saved.id),
                     f"{saved.full_name} can sign in again." if enabled
                     else f"{saved.full_name} can no longer sign in; their open sessions have ended.")

    return form_page(form, lambda f: _user_page(user, role_form, f), save)
