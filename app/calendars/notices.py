"""E-mail to a provider whose calendar refused Bookwell's credentials."""
from __future__ import annotations

import logging
import uuid

from sqlalchemy import select

from app.extensions import db
from app.links import external_url
from app.models import CalendarConnection, User
from app.notifications import email

log = logging.getLogger(__name__)


def tell_provider_to_reconnect(connection_id: uuid.UUID) -> int:
    """Send the provider's accounts a short note; returns how many went out (failures are logged)."""
    connection = db.session.get(CalendarConnection, connection_id)
    if connection is None:
        return 0
    link = external_url("provider.calendars")
    sent = 0
    for user in db.session.scalars(select(User).where(User.provider_id == connection.provider_id,
                                                      User.is_enabled.is_(True))):
        text = (f"Bookwell can no longer read your calendar \"{connection.display_name}\": the server refused "
                f"the user name or password. Busy times from it are not updated until you reconnect it.\n\n"
                f"Reconnect it on your calendars page: {link}\n")
        message = email.build(user.email, "Reconnect your calendar in Bookwell", text, None,
                              f"calendar-reauth-{connection.id}-{user.id}")
        try:
            email.send(message)
            sent += 1
        except (email.TransientError, email.PermanentError) as exc:
            log.warning("calendar re-authorisation notice not sent (%s)", type(exc).__name__)
    return sent
