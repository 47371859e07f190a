from flask import current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user

from app.demo_seed import DEMO_LOGINS, DEMO_PASSWORD
from app.accounts import AccountError, authenticate, register_patient
from app.tenancy import portal_organization
from app.web.access import home_endpoint, safe_local_path
from app.web.auth import bp
from app.web.auth.forms import LoginForm, RegistrationForm


_safe_next = safe_local_path


def _sign_in(user, remember: bool = False):
    session.clear()  # a fresh session at sign-in: no fixation
    login_user(user, remember=remember)
    session.permanent = remember


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for(home_endpoint(current_user.role)))
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        user = authenticate(form.email.data, form.password.data)
        if user is not None:
            next_url = _safe_next(request.args.get("next"))
            _sign_in(user, form.remember.data)
            flash(f"Welcome back, {user.full_name}.", "success")
            return redirect(next_url or url_for(home_endpoint(user.role)))
        form.password.errors.append("Email or password is not correct.")
        status = 401
    elif request.method == "POST":
        status = 422
    demo_logins = DEMO_LOGINS if current_app.config["SHOW_DEMO_LOGINS"] else None
    return render_template("auth/login.html", form=form, demo_logins=demo_logins, demo_password=DEMO_PASSWORD), status


@bp.route("/register", methods=["GET", "POST"])
def register():
    if current_user.is_authenticated:
        return redirect(url_for(home_endpoint(current_user.role)))
    organization = portal_organization()
    form = RegistrationForm()
    status = 200
    if form.validate_on_submit() and organization is not None:
        try:
            user = register_patient(
                organization.id,
                email=form.email.data,
                password=form.password.data,
                full_name=form.full_name.data,
                phone=form.phone.data or None,
                timezone=form.timezone.data or "UTC",
            )
        except AccountError as error:
            getattr(form, error.field).errors.append(error.message)
            status = 422
        else:
            _sign_in(user)
            flash("Your account is ready. You can now book and manage visits.", "success")
            return redirect(url_for("patient.home"))
    elif request.method == "POST":
        status = 422
    return render_template("auth/register.html", form=form, organization=organization), status


@bp.post("/logout")
@login_required
def logout():
    logout_user()
    session.clear()
    flash("You are signed out.", "info")
    return redirect(url_for("auth.login"))
