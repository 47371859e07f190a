from flask import current_app
from wtforms import BooleanField, EmailField, HiddenField, PasswordField, StringField, TelField
from wtforms.validators import DataRequired, Email, EqualTo, Length, Optional, ValidationError

from app.accounts import MIN_PASSWORD_LENGTH
from app.phones import normalise_phone
from app.web.guarded_form import GuardedForm, valid_email


class LoginForm(GuardedForm):
    email = EmailField("Email", validators=[DataRequired(), Email(), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=500)])
    remember = BooleanField("Keep me signed in on this device")


class RegistrationForm(GuardedForm):
    full_name = StringField("Full name", validators=[DataRequired(), Length(max=200)])
    email = EmailField("Email", validators=[DataRequired(), Length(max=254), valid_email])
    phone = TelField("Mobile phone (for reminders, optional)", validators=[Optional(), Length(max=40)])
    password = PasswordField(
        "Password",
        validators=[DataRequired(), Length(min=MIN_PASSWORD_LENGTH, max=500,
                                           message=f"Use at least {MIN_PASSWORD_LENGTH} characters.")],
    )
    confirm = PasswordField("Repeat password", validators=[DataRequired(), EqualTo("password", "The passwords differ.")])
    timezone = HiddenField()  # filled from the browser by static/js/timezone.js

    def validate_phone(self, field):
        if field.data:
            try:
                field.data = normalise_phone(field.data, current_app.config["DEFAULT_PHONE_REGION"])
            except ValueError as exc:
                raise ValidationError(str(exc)) from exc
