"""The base of every page form: no control characters in any text field.

Each text field (StringField and its kinds: email, phone, hidden, password, text
area) gets one more validator when the form is built, so a new field cannot forget
it: single-line fields refuse every control character, CR and LF included (they
end up in email headers, texts and calendar files); text areas allow line breaks
and tabs only. See app/contacts.py and docs/security.md.
"""
from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import StringField, TextAreaField
from wtforms.meta import DefaultMeta
from wtforms.validators import ValidationError

from app.contacts import normalise_email_address, text_problem


def _no_control(multiline: bool):
    def check(form, field):
        if isinstance(field.data, str):
            problem = text_problem(field.data, multiline)
            if problem:
                raise ValidationError(problem)

    return check


def valid_email(form, field) -> None:
    """One plain address (email-validator), lower-cased in place."""
    if field.data:
        try:
            field.data = normalise_email_address(field.data)
        except ValueError as exc:
            raise ValidationError(str(exc)) from exc


class GuardedForm(FlaskForm):
    class Meta(DefaultMeta):
        def bind_field(self, form, unbound_field, options):
            field = super().bind_field(form, unbound_field, options)
            if isinstance(field, StringField):
                field.validators = [*field.validators, _no_control(isinstance(field, TextAreaField))]
            return field
