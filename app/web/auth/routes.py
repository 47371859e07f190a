"""Sign in and out, sign up, forgotten and first passwords, and the signed-in person's
own password and email address (docs/accounts.md)."""
from flask import current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user

from app import accounts
from app.accounts import AccountError
from app.demo_seed import DEMO_LOGINS, DEMO_PASSWORD
from app.tenancy import portal_organization, sign_in_scope
from app.web import sign_ins
from app.web.access import home_endpoint, safe_local_path
from app.web.auth import bp
from app.web.auth.forms import (
    POLICY_HINT,
    ChangeEmailForm,
    ChangePasswordForm,
    ConfirmForm,
    ForgotPasswordForm,
    LoginForm,
    RegistrationForm,
    SetPasswordForm,
)

_safe_next = safe_local_path
CHECK_EMAIL = {
    "sign-up": ("Check your email", "We have sent you an email. Open the link in it to finish creating your "
                "account. If this address already has an account, the email tells you how to sign in."),
    "reset": ("Check your email", "If an account uses this address, we have sent it a link to set a new "
              "password. The link works once, for one hour."),
}


@bp.after_request
def _no_referrer(response):
    # Link tokens sit in these pages' URLs: never hand them to another site in a Referer.
    if request.view_args and "token" in request.view_args:
        response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _sign_in(user, remember: bool = False):
    session.clear()  # a fresh session at sign-in: no fixation
    sign_ins.start(user)
    login_user(user, remember=remember)
    session.permanent = remember


def _scope_id():
    org = sign_in_scope()
    return org.id if org is not None else None


def _form_error(form, error: AccountError) -> None:
    field = getattr(form, error.field, None)
    (field.errors if field is not None else form.form_errors).append(error.message)


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for(home_endpoint(current_user.role)))
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        unconfirmed = None
        try:
            user = accounts.authenticate(form.email.data, form.password.data, _scope_id())
        except accounts.EmailNotConfirmed as pending:
            user, unconfirmed = None, pending.message
        if user is not None:
            next_url = _safe_next(request.args.get("next"))
            _sign_in(user, form.remember.data)
            flash(f"Welcome back, {user.full_name}.", "success")
            return redirect(next_url or url_for(home_endpoint(user.role)))
        if unconfirmed:
            form.email.errors.append(unconfirmed)
        else:
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
            accounts.register_patient(organization.id, email=form.email.data, password=form.password.data,
                                      full_name=form.full_name.data, phone=form.phone.data or None,
                                      timezone=form.timezone.data or "UTC")
        except AccountError as error:
            _form_error(form, error)
            status = 422
        else:  # the same answer whether or not the address has an account (docs/accounts.md)
            return redirect(url_for("auth.check_email", about="sign-up"), code=303)
    elif request.method == "POST":
        status = 422
    return render_template("auth/register.html", form=form, organization=organization,
                           policy_hint=POLICY_HINT), status


@bp.get("/check-email")
def check_email():
    title, text = CHECK_EMAIL.get(request.args.get("about", ""), CHECK_EMAIL["reset"])
    return render_template("auth/check_email.html", title=title, text=text)


@bp.route("/forgot", methods=["GET", "POST"])
def forgot_password():
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        accounts.request_password_reset(_scope_id(), form.email.data)
        return redirect(url_for("auth.check_email", about="reset"), code=303)
    return render_template("auth/forgot.html", form=form), (422 if request.method == "POST" else 200)


def _bad_link(status: int = 400):
    return render_template("auth/bad_link.html"), status


@bp.route("/reset/<token>", methods=["GET", "POST"])
def reset_password(token):
    """Set a password from a reset or invitation link, then sign in."""
    if not accounts.link_is_valid(token):
        return _bad_link()
    form = SetPasswordForm()
    if form.validate_on_submit():
        try:
            user = accounts.set_password_with_link(token, form.password.data)
        except AccountError as error:
            if error.field == "token":
                return _bad_link()
            _form_error(form, error)
        else:
            _sign_in(user)
            flash("Your password is set. Other devices were signed out.", "success")
            return redirect(url_for(home_endpoint(user.role)), code=303)
    status = 422 if request.method == "POST" else 200
    return render_template("auth/set_password.html", form=form, policy_hint=POLICY_HINT), status


@bp.route("/confirm/<token>", methods=["GET", "POST"])
def confirm_sign_up(token):
    if not accounts.link_is_valid(token, ("verify",)):
        return _bad_link()
    form = ConfirmForm()
    if form.validate_on_submit():
        try:
            user = accounts.confirm_sign_up(token)
        except AccountError:
            return _bad_link()
        _sign_in(user)
        flash("Your email is confirmed and your account is ready. You can now book and manage visits.", "success")
        return redirect(url_for(home_endpoint(user.role)), code=303)
    return render_template("auth/confirm.html", form=form, title="Confirm your email",
                           text="One click and your account is ready.", button="Confirm and sign in")


@bp.route("/email/<token>", methods=["GET", "POST"])
def confirm_email(token):
    if not accounts.link_is_valid(token, ("email",)):
        return _bad_link()
    form = ConfirmForm()
    status = 200
    if form.validate_on_submit():
        try:
            user = accounts.confirm_email_change(token)
        except AccountError as error:
            if error.field == "token":
                return _bad_link()
            form.form_errors.append(error.message)
            status = 409
        else:
            _sign_in(user)
            flash("Your new email address is saved. Other devices were signed out.", "success")
            return redirect(url_for("auth.account"), code=303)
    return render_template("auth/confirm.html", form=form, title="Confirm your new email address",
                           text="Use this address for your account from now on.", button="Use this address"), status


@bp.route("/account", methods=["GET", "POST"])
@login_required
def account():
    """The signed-in person's password and email address."""
    password_form = ChangePasswordForm(prefix="pw")
    email_form = ChangeEmailForm(prefix="em")
    status = 200
    if request.method == "POST" and "pw-password" in request.form:
        if password_form.validate_on_submit():
            try:
                user = accounts.change_password(current_user.id, current=password_form.current_password.data,
                                                new=password_form.password.data)
            except AccountError as error:
                _form_error(password_form, error)
            else:
                _sign_in(user)
                flash("Your password is changed. Other devices were signed out.", "success")
                return redirect(url_for("auth.account"), code=303)
        status = 422
    elif request.method == "POST":
        if email_form.validate_on_submit():
            try:
                accounts.request_email_change(current_user.id, password=email_form.email_password.data,
                                              new_email=email_form.email.data)
            except AccountError as error:
                _form_error(email_form, error if error.field != "password" else AccountError(
                    "email_password", error.message))
            else:
                flash("We have sent a link to the new address. Your address changes when you open it.", "info")
                return redirect(url_for("auth.account"), code=303)
        status = 422
    return render_template("auth/account.html", password_form=password_form, email_form=email_form,
                           policy_hint=POLICY_HINT), status


@bp.post("/logout")
@login_required
def logout():
    sign_ins.end(current_user)  # copies of this browser's cookies stop working too
    logout_user()
    session.clear()
    # logout_user() asked for the "keep me signed in" cookie to be deleted; clearing the
    # session dropped that request, and the cookie would sign the browser in again
    session["_remember"] = "clear"
    flash("You are signed out.", "info")
    return redirect(url_for("auth.login"))
