from flask import current_app
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, SelectChoice, SelectField, StringField, TelField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from app.accounts import valid_timezone
from app.phones import normalise_phone
from app.web.guarded_form import GuardedForm, valid_email
from app.tenancy import phone_region


def _phone(form, field):
    if field.data:
        try:
            field.data = normalise_phone(field.data, phone_region())
        except ValueError as exc:
            raise ValidationError(str(exc)) from exc


class ConfirmForm(GuardedForm):
    name = StringField("Full name", validators=[DataRequired(), Length(max=200)])
    email = EmailField("Email", validators=[DataRequired(), Length(max=254), valid_email])
    phone = TelField("Mobile phone", validators=[Optional(), Length(max=40), _phone])
    notes = TextAreaField("Anything the clinic should know? (optional)", validators=[Optional(), Length(max=2000)])

    def __init__(self, *args, guest: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        if guest:
            self.phone.validators = [DataRequired("Give a phone number so the clinic can reach you."),
                                     Length(max=40), _phone]


class CancelForm(GuardedForm):
    reason = StringField("Reason (optional)", validators=[Optional(), Length(max=500)])


class ProfileForm(GuardedForm):
    full_name = StringField("Full name", validators=[DataRequired(), Length(max=200)])
    phone = TelField("Mobile phone", validators=[Optional(), Length(max=40), _phone])
    timezone = SelectField("Time zone", validate_choice=False)
    language = SelectField("Language", choices=[SelectChoice("en", "English"), SelectChoice("de", "Deutsch")])
    notify_email = BooleanField("Email me confirmations and reminders")
    notify_sms = BooleanField("Text me reminders")
    reminders_enabled = BooleanField("Send reminders before my visits")

    def validate_timezone(self, field):
        if not valid_timezone(field.data):
            raise ValidationError("Choose a time zone from the list.")

    def validate_notify_sms(self, field):
        if field.data and not self.phone.data:
            raise ValidationError("Add a mobile number to get text reminders.")
