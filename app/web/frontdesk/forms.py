import uuid

from wtforms import EmailField, HiddenField, SelectField, StringField, TelField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from app.accounts import valid_timezone
from app.web.guarded_form import GuardedForm, valid_email


def normalised_phone(form, field):
    """A caller's number as the front desk types it: national numbers are read in the clinic's
    countries (its own, then those of its locations' phones)."""
    from flask_login import current_user

    from app.phones import normalise_phone_in
    from app.queries.patients import phone_regions
    from app.tenancy import phone_region

    if field.data:
        regions = list(dict.fromkeys([phone_region(), *phone_regions(current_user.organization_id)]))
        try:
            field.data = normalise_phone_in(field.data, regions)
        except ValueError as exc:
            raise ValidationError(str(exc)) from exc


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
