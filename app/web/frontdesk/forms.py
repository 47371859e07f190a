import uuid

from wtforms import EmailField, HiddenField, SelectField, StringField, TelField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from app.accounts import valid_timezone
from app.web.guarded_form import GuardedForm, valid_email
from app.web.patient.forms import _phone as normalised_phone


class NewPatientForm(GuardedForm):
    full_name = StringField("Full name", validators=[DataRequired("Give the caller's name."), Length(max=200)],
                            filters=[lambda value: " ".join(value.split()) if value else value])
    email = EmailField("Email", validators=[Optional(), Length(max=254), valid_email])
    phone = TelField("Mobile phone", validators=[Optional(), Length(max=40), normalised_phone])
    timezone = SelectField("Time zone", validate_choice=False)

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)
        if not (self.email.data or "").strip() and not (self.phone.data or "").strip():
            self.email.errors.append("Give an email address or a phone number, so the clinic can reach them.")
            return False
        return valid

    def validate_timezone(self, field):
        if not valid_timezone(field.data):
            raise ValidationError("Choose a time zone from the list.")


class BookForm(GuardedForm):
    """The chosen time travels in hidden fields; the view re-validates every one."""

    patient = HiddenField()
    caller = HiddenField()
    appointment_type_id = HiddenField()
    provider_id = HiddenField()
    location_id = HiddenField()
    start = HiddenField()
    notes = TextAreaField("Notes for the clinician (optional)", validators=[Optional(), Length(max=2000)])


def parse_uuid(value: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(value or "")
    except ValueError:
        return None
