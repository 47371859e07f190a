"""The admin forms. They parse what was typed and check presence, types and the few
cross-field rules only a form has (a price needs its currency); bounds and shapes come
from the API's schemas (app/api/schemas.py) and database rules from the services, so
each rule lives in one place. `payload()` gives the schema's field names."""
from __future__ import annotations

import functools
from decimal import Decimal
from typing import ClassVar

from wtforms import (
    BooleanField,
    DecimalField,
    EmailField,
    HiddenField,
    IntegerField,
    PasswordField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    TelField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Optional, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from app.accounts import valid_timezone, zone_names
from app.models import MODES, STAFF_ROLES
from app.web.once import new_token
from app.web.guarded_form import GuardedForm, valid_email

ZONE_REGIONS = ("Africa", "America", "Antarctica", "Asia", "Atlantic", "Australia", "Europe", "Indian", "Pacific")
MODE_LABELS = {"in_person": "In person", "video": "Video call", "phone": "Phone call"}
ROLE_LABELS = {"frontdesk": "Front desk", "manager": "Manager", "admin": "Administrator", "provider": "Provider"}
CURRENCIES = ("EUR", "USD", "GBP", "CHF", "CAD", "AUD", "SEK", "NOK", "DKK", "PLN", "CZK", "JPY", "INR")
NUMBER = "Give a whole number."
PRICE_SANITY = Decimal(10) ** 12  # beyond any price: keeps the arithmetic finite (the schema sets the real bound)


def options(pairs, optgroup: str | None = None) -> list[SelectChoice]:
    """(value, label) pairs as WTForms 3.3 wants choices (plain tuples are deprecated there)."""
    return [SelectChoice(value, label, optgroup=optgroup) for value, label in pairs]


def _text(value: str | None) -> str | None:
    return (value or "").strip() or None


@functools.cache
def _region_zones() -> tuple[SelectChoice, ...]:
    zones = []
    for zone in sorted(zone_names()):
        region, _, place = zone.partition("/")
        if region in ZONE_REGIONS and place:
            zones.append(SelectChoice(zone, zone, optgroup=region))
    return tuple(zones)


def zone_choices(current: str | None = None) -> list[SelectChoice]:
    """IANA zones grouped by region (an optgroup each); an older alias in use stays choosable."""
    universal = ["UTC"]
    if current and current != "UTC" and valid_timezone(current) and all(z.value != current for z in _region_zones()):
        universal.append(current)
    return [*options(((zone, zone) for zone in universal), optgroup="Universal"), *_region_zones()]


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class AdminForm(GuardedForm):
    """Every admin form carries a one-time token (app/web/once.py) beside its CSRF token."""

    form_token = HiddenField(default=new_token)
    ALIASES: ClassVar[dict[str, str]] = {}  # schema or service field name -> form field name

    def show_errors(self, fields: dict[str, str]) -> None:
        """Put field errors (from a schema or a service) on the inputs; the rest above the form."""
        for key, message in fields.items():
            head = key.split(".")[0]
            name = self.ALIASES.get(head, head)
            target = self._fields.get(name)
            if target is None or name in ("csrf_token", "form_token"):
                if message not in self.form_errors:
                    self.form_errors.append(message)
            elif not target.errors:  # one reason per field: the first found
                target.errors = [message]


class LocationForm(AdminForm):
    name = StringField("Name", validators=[DataRequired()])
    timezone = SelectField("Time zone", validate_choice=False)
    address = TextAreaField("Address", render_kw={"rows": 2})
    phone = TelField("Public phone number")

    def validate_timezone(self, field):
        if not valid_timezone(field.data):
            raise ValidationError("Choose a time zone from the list.")

    def payload(self) -> dict:
        return {"name": self.name.data, "timezone": self.timezone.data, "address": _text(self.address.data),
                "phone": _text(self.phone.data)}


class LocationEditForm(LocationForm):
    is_active = BooleanField("Active (patients can book here)")

    def payload(self) -> dict:
        return {**super().payload(), "is_active": self.is_active.data}


class RoomForm(AdminForm):
    name = StringField("Name", validators=[DataRequired()])
    capacity = IntegerField("Capacity", default=1, validators=[InputRequired(NUMBER)])
    is_virtual = BooleanField("Virtual room (video or phone)")

    def payload(self) -> dict:
        return {"name": self.name.data, "capacity": self.capacity.data, "is_virtual": self.is_virtual.data}


class RoomEditForm(RoomForm):
    is_active = BooleanField("Active")

    def payload(self) -> dict:
        return {**super().payload(), "is_active": self.is_active.data}


class ProviderForm(AdminForm):
    name = StringField("Display name", validators=[DataRequired()])
    specialty = StringField("Specialty")
    timezone = SelectField("Time zone", validate_choice=False)
    location_ids = MultiCheckboxField("Locations served")
    bio = TextAreaField("Bio", render_kw={"rows": 4})
    ALIASES: ClassVar[dict[str, str]] = {"email": "login_email", "password": "login_password"}

    def validate_timezone(self, field):
        if not valid_timezone(field.data):
            raise ValidationError("Choose a time zone from the list.")

    def payload(self) -> dict:
        return {"name": self.name.data, "specialty": _text(self.specialty.data), "timezone": self.timezone.data,
                "location_ids": self.location_ids.data, "bio": _text(self.bio.data)}


class ProviderCreateForm(ProviderForm):
    login_email = EmailField("Sign-in email (optional)", validators=[Optional(), valid_email])
    login_password = PasswordField("Initial password (optional)")

    def validate_login_password(self, field):
        if field.data and not self.login_email.data:
            raise ValidationError("A password needs a sign-in email.")


class ProviderEditForm(ProviderForm):
    is_active = BooleanField("Active (bookable)")

    def payload(self) -> dict:
        return {**super().payload(), "is_active": self.is_active.data}


class AppointmentTypeForm(AdminForm):
    name = StringField("Name", validators=[DataRequired()])
    description = TextAreaField("Description", render_kw={"rows": 3})
    mode = SelectField("Mode", choices=options((mode, MODE_LABELS[mode]) for mode in MODES))
    duration_minutes = IntegerField("Duration (minutes)", default=30, validators=[InputRequired(NUMBER)])
    buffer_before_minutes = IntegerField("Buffer before (minutes)", default=0, validators=[InputRequired(NUMBER)])
    buffer_after_minutes = IntegerField("Buffer after (minutes)", default=0, validators=[InputRequired(NUMBER)])
    slot_interval_minutes = IntegerField("Start times every (minutes)", validators=[Optional()])
    seats = IntegerField("Seats per slot", default=1, validators=[InputRequired(NUMBER)])
    price = DecimalField("Price", places=2, validators=[Optional()])
    currency = SelectField("Currency", choices=options([("", "—"), *((c, c) for c in CURRENCIES)]))
    min_notice_minutes = IntegerField("Minimum notice (minutes)", default=0, validators=[InputRequired(NUMBER)])
    max_future_days = IntegerField("Bookable up to (days ahead)", default=60, validators=[InputRequired(NUMBER)])
    requires_approval = BooleanField("Requests need staff approval")
    allow_patient_reschedule = BooleanField("Patients may reschedule online", default=True)
    max_reschedules = IntegerField("Maximum reschedules", validators=[Optional()])
    cancel_notice_minutes = IntegerField("Cancellation notice (minutes)", validators=[Optional()])
    location_id = SelectField("Default location")
    room_id = SelectField("Default room")
    provider_ids = MultiCheckboxField("Offered by")
    is_active = BooleanField("Active (bookable)", default=True)
    ALIASES: ClassVar[dict[str, str]] = {"price_cents": "price"}
    room_locations: dict[str, str]  # room id -> its location id, set by the view

    def validate_price(self, field):
        if field.data is None:
            return
        if not field.data.is_finite() or abs(field.data) >= PRICE_SANITY:
            raise ValidationError("Give an amount like 49.50.")
        if field.data != field.data.quantize(Decimal("0.01")):
            raise ValidationError("Use at most two decimals.")

    def validate_currency(self, field):
        if self.price.data is not None and not field.data:
            raise ValidationError("Choose the currency of the price.")

    def validate_room_id(self, field):
        if field.data and self.location_id.data and self.room_locations.get(field.data) != self.location_id.data:
            raise ValidationError("This room is at another location than the default location.")

    def payload(self) -> dict:
        numbers = ("duration_minutes", "buffer_before_minutes", "buffer_after_minutes", "slot_interval_minutes",
                   "seats", "min_notice_minutes", "max_future_days", "max_reschedules", "cancel_notice_minutes")
        flags = ("requires_approval", "allow_patient_reschedule", "is_active")
        price = self.price.data if self.price.data is not None and not self.price.errors else None
        return {
            "name": self.name.data, "description": _text(self.description.data), "mode": self.mode.data,
            **{name: self[name].data for name in numbers + flags},
            "price_cents": None if price is None else int(price * 100), "currency": self.currency.data or None,
            "location_id": self.location_id.data or None, "room_id": self.room_id.data or None,
            "provider_ids": self.provider_ids.data,
        }


def _role_choices() -> list[SelectChoice]:
    return options((role, ROLE_LABELS[role]) for role in ("frontdesk", "provider", "manager", "admin")
                   if role in STAFF_ROLES)


class StaffUserForm(AdminForm):
    full_name = StringField("Full name", validators=[DataRequired()])
    email = EmailField("Email", validators=[DataRequired(), valid_email])
    password = PasswordField("Initial password (optional)", validators=[Optional()])
    role = SelectField("Role", choices=_role_choices())
    provider_id = SelectField("Signs in as provider")


class RoleForm(AdminForm):
    role = SelectField("Role", choices=_role_choices())
    provider_id = SelectField("Signs in as provider")


class SettingsForm(AdminForm):
    name = StringField("Clinic name", validators=[DataRequired()])
    slot_exposure_enabled = BooleanField("Show patients a few suggested times (slot sampling)")
    hold_minutes = IntegerField("Hold length (minutes)", validators=[InputRequired(NUMBER)])
    max_live_holds = IntegerField("Live holds per person", validators=[Optional()])  # blank: unchanged
