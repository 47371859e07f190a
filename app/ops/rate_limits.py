"""Rate limits (Flask-Limiter, counters in Redis so every web node shares them).

docs/architecture.md (Limits): user GETs 60/min, booking mutations 10/min per client; 429
RATE_LIMITED with Retry-After. Tunable with RATELIMIT_USER_READS and
RATELIMIT_BOOKING_WRITES; switched off for load tests with RATELIMIT_ENABLED=false.

The pages' own forms are limited too, not only the API: the portal's hold,
confirm, cancel and reschedule forms (RATELIMIT_PAGE_BOOKINGS), the front desk's
and clinicians' booking forms, which send messages (RATELIMIT_STAFF_WRITES), and
registration on the page and the API (RATELIMIT_REGISTRATIONS, per address).
A signed-in person is counted by account, anyone else by client address (right
behind a proxy with TRUSTED_PROXIES). How many slots one person may hold at once
is a separate cap that does not depend on this switch (app/booking/hold_limits.py).

Sign-in, sign-up and reset (pages and API) have two more limits: per client
(RATELIMIT_SIGN_IN, every attempt) and per account, keyed by the address typed
(RATELIMIT_SIGN_IN_ACCOUNT; for sign-in only failed attempts count, so the owner
is not locked out by their own successes). docs/accounts.md.

Each app gets its own Limiter (a module-level one would carry the settings of
whichever app was configured last into every other app of the process).
"""
from __future__ import annotations

from flask import Flask, current_app, request
from flask_limiter import Limiter
from flask_login import current_user

from app import crypto
from app.api.auth import api_user
from app.errors import BookwellError

BOOKING_WRITES = (
    "api_v1.create_booking", "api_v1.confirm_booking", "api_v1.cancel_booking",
    "api_v1.reschedule_booking", "api_v1.accept_booking", "api_v1.decline_booking",
)
# endpoint -> the door it is (pages and API share a door's per-account counter)
SIGN_IN_DOORS = {
    "auth.login": "sign-in", "api_v1.token": "sign-in",
    "auth.register": "sign-up", "api_v1.register": "sign-up",
    "auth.forgot_password": "reset", "api_v1.password_reset": "reset",
    "auth.reset_password": "set-password", "api_v1.password_reset_confirm": "set-password",
}

PAGE_BOOKINGS = (
    "patient.hold_slot", "patient.confirm_hold", "patient.manage_cancel", "patient.manage_reschedule_post",
    "patient.cancel_appointment", "patient.reschedule_appointment_post",
)
STAFF_WRITES = ("frontdesk.add_patient", "frontdesk.book_it", "frontdesk.booking_action", "provider.booking_action")
REGISTRATIONS = ("auth.register", "api_v1.register")


def client_key() -> str:
    """The signed-in user, else the client address."""
    try:
        user = api_user()
    except BookwellError:
        user = None
    return f"user:{user.id}" if user is not None else f"ip:{request.remote_addr}"


def page_client_key() -> str:
    """The signed-in person (cookie session), else the client address."""
    if current_user.is_authenticated:
        return f"user:{current_user.id}"
    return f"ip:{request.remote_addr}"


def address_key() -> str:
    """Per client address, whoever is signed in (registration, sign-in doors)."""
    return f"ip:{request.remote_addr}"


def page_bookings() -> str:
    return current_app.config["RATELIMIT_PAGE_BOOKINGS"]


def staff_writes() -> str:
    return current_app.config["RATELIMIT_STAFF_WRITES"]


def registrations() -> str:
    return current_app.config["RATELIMIT_REGISTRATIONS"]
def account_key() -> str:
    """The account an attempt aims at: the typed email (or the link's token), keyed and hashed."""
    typed = ""
    if request.is_json:
        body = request.get_json(silent=True)
        if isinstance(body, dict):
            typed = body.get("email") or body.get("token") or ""
    typed = typed or request.form.get("email") or (request.view_args or {}).get("token") or ""
    return "account:" + crypto.blind_index("rl:" + crypto.normalise_email(str(typed)))[:32]


def retry_after_seconds() -> int | None:
    """Seconds until the limit that refused this request lets the client in again."""
    import time

    limiter = current_app.extensions.get("bookwell_limiter")
    current = getattr(limiter, "current_limit", None) if limiter is not None else None
    if current is None:
        return None
    return max(1, int(current.reset_at - time.time()))


def user_reads() -> str:
    return current_app.config["RATELIMIT_USER_READS"]


def booking_writes() -> str:
    return current_app.config["RATELIMIT_BOOKING_WRITES"]


def sign_in_client() -> str:
    return current_app.config["RATELIMIT_SIGN_IN"]


def sign_in_account() -> str:
    return current_app.config["RATELIMIT_SIGN_IN_ACCOUNT"]


def _failed(response) -> bool:
    return response.status_code in (401, 422)


def storage_uri(redis_url: str) -> str:
    """limits spells a unix-socket Redis as redis+unix://."""
    return "redis+unix://" + redis_url.removeprefix("unix://") if redis_url.startswith("unix://") else redis_url


def init_app(app: Flask) -> None:
    app.config.setdefault("RATELIMIT_STORAGE_URI", storage_uri(app.config["REDIS_URL"]))
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", True)
    app.config.setdefault("RATELIMIT_SWALLOW_ERRORS", True)  # Redis down: serve, do not fail closed
    app.config.setdefault("RATELIMIT_SIGN_IN", "30/minute;300/hour")
    app.config.setdefault("RATELIMIT_SIGN_IN_ACCOUNT", "5/minute;20/hour")

    @app.after_request  # registered before the limiter's own hook, so it runs after it
    def _retry_after_only_when_refused(response):
        """Flask-Limiter puts Retry-After on every limited answer; on a success (a 202 sign-up)
        a polite client would wait an hour. It belongs to 429 (and 503) only."""
        if response.status_code not in (429, 503):
            response.headers.pop("Retry-After", None)
        return response

    limiter = Limiter(key_func=client_key, key_prefix=app.config.get("RATELIMIT_KEY_PREFIX", "bookwell-rl"))
    limiter.init_app(app)
    for endpoint, view in list(app.view_functions.items()):
        if endpoint in REGISTRATIONS:
            # one budget for the page and the API (a shared limit: a plain limit counts per endpoint)
            view = app.view_functions[endpoint] = limiter.shared_limit(registrations, "registrations",
                                                                       key_func=address_key, methods=["POST"])(view)
        if endpoint in PAGE_BOOKINGS:
            app.view_functions[endpoint] = limiter.limit(page_bookings, key_func=page_client_key,
                                                         methods=["POST"], scope="page-bookings")(view)
        elif endpoint in STAFF_WRITES:
            app.view_functions[endpoint] = limiter.limit(staff_writes, key_func=page_client_key,
                                                         methods=["POST"], scope="staff-writes")(view)
        elif endpoint in SIGN_IN_DOORS:
            door = SIGN_IN_DOORS[endpoint]
            view = limiter.shared_limit(sign_in_client, f"door-client:{door}", key_func=address_key,
                                        methods=["POST"])(view)
            view = limiter.shared_limit(sign_in_account, f"door-account:{door}", key_func=account_key,
                                        methods=["POST"], deduct_when=_failed if door == "sign-in" else None)(view)
            if endpoint.startswith("api_v1."):
                view = limiter.limit(user_reads, methods=["GET"])(view)
            app.view_functions[endpoint] = view
        elif endpoint in BOOKING_WRITES:
            app.view_functions[endpoint] = limiter.limit(booking_writes)(view)
        elif endpoint.startswith("api_v1."):
            app.view_functions[endpoint] = limiter.limit(user_reads, methods=["GET"])(view)
    app.extensions["bookwell_limiter"] = limiter
