from flask import current_app
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, HiddenField, PasswordField, StringField, TelField
from wtforms.validators import DataRequired, Email, EqualTo, Length, Optional, ValidationError

from app.password_policy import MAX_LENGTH, MIN_LENGTH
from app.phones import normalise_phone
from app.web.guarded_form import GuardedForm, valid_email
from app.tenancy import phone_region

POLICY_HINT = (f"At least {MIN_LENGTH} characters; not a common password, your email or the clinic's name. "
               "A few unrelated words work well.")


def _new_password(label: str = "Password") -> PasswordField:
    # Never trimmed: what is typed is what is hashed (app/password_policy.py checks the rest).
    return PasswordField(label, validators=[DataRequired(), Length(max=MAX_LENGTH)])


def _repeat() -> PasswordField:
    return PasswordField("Repeat password", validators=[DataRequired(), EqualTo("password", "The passwords differ.")])


class LoginForm(GuardedForm):
    email = EmailField("Email", validators=[DataRequired(), Email(), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=MAX_LENGTH)])
    remember = BooleanField("Keep me signed in on this device")


class RegistrationForm(GuardedForm):
    full_name = StringField("Full name", validators=[DataRequired(), Length(max=200)])
    email = EmailField("Email", validators=[DataRequired(), Length(max=254), valid_email])
    phone = TelField("Mobile phone (for reminders, optional)", validators=[Optional(), Length(max=40)])
    password = _new_password()
    confirm = _repeat()
    timezone = HiddenField()  # filled from the browser by static/js/timezone.js

    def validate_phone(self, field):
        if field.data:
            try:
                field.data = normalise_phone(field.data, phone_region())
            except ValueError as exc:
                raise ValidationError(str(exc)) from exc


class ForgotPasswordForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Email(), Length(max=254)])


class SetPasswordForm(FlaskForm):
    password = _new_password("New password")
    confirm = _repeat()


class ConfirmForm(FlaskForm):
    """A button: links in emails act only on a POST (mail scanners open links)."""


class ChangePasswordForm(FlaskForm):
    current_password = PasswordField("Current password", validators=[DataRequired(), Length(max=MAX_LENGTH)])
    password = _new_password("New password")
    confirm = _repeat()


class ChangeEmailForm(FlaskForm):
    email = EmailField("New email address", validators=[DataRequired(), Email(), Length(max=254)])
    email_password = PasswordField("Your password", validators=[DataRequired(), Length(max=MAX_LENGTH)])
