"""The patient portal end to end, in Chromium against the live server: a guest books,
a signed-in patient books, moves and cancels, a policy refusal and an expired hold
explain themselves.

The live server and its database are shared by the whole e2e session, so every test
books on its own day (`booking_day(n)`; tests/e2e/test_live_slots.py uses days 4 and 5)
and finds its visit by the booking id in the page's URL, never by position.
"""
from __future__ import annotations

import re
import uuid
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import requests
from playwright.sync_api import expect

from app.demo_seed import DEMO_PASSWORD

from tests.e2e.pages import new_page, signed_in  # noqa: E402

pytestmark = pytest.mark.e2e

BERLIN = "Europe/Berlin"
PATIENT = "patient@riverside.example"
CONSULT = "General consultation"
PHYSIO = "Physiotherapy session"
WEBER = "Dr. Anna Weber"
FISCHER = "Jonas Fischer"
BOOKING_URL = re.compile(r"/book/(confirm|done)/([0-9a-f-]{36})")


# --- helpers -------------------------------------------------------------------------------

def booking_day(n: int) -> date:
    """The n-th working day (Mon-Fri, Berlin) at least two days ahead: clear of the 2-hour
    minimum notice and inside the finder's 14-day strip. Each test owns its own day."""
    today = datetime.now(ZoneInfo(BERLIN)).date()
    days = [today + timedelta(days=d) for d in range(2, 14) if (today + timedelta(days=d)).isoweekday() <= 5]
    return days[n]





def booking_id_of(page) -> str:
    found = BOOKING_URL.search(page.url)
    assert found, page.url
    return found.group(2)


def choose_consultation_on(page, day: date) -> None:
    """/book: pick the General consultation (an HTMX refetch of #results), then `day`."""
    page.goto("/book")
    option = page.locator("#appointment_type_id option", has_text=CONSULT)
    type_id = option.get_attribute("value")
    page.locator("#appointment_type_id").select_option(label=option.inner_text().strip())
    # the refetched results link every day to the chosen visit type
    strip = page.locator(f'#results .date-strip a.day[href*="appointment_type_id={type_id}"]')
    expect(strip.first).to_be_visible()
    strip.and_(page.locator(f'[href*="date={day.isoformat()}"]')).click()
    expect(page.locator(f'#results a.day.active[href*="date={day.isoformat()}"]')).to_be_visible()
    expect(page.locator("#results button.slot").first).to_be_visible()


def row(page, booking_id: str):
    return page.locator(f"#booking-{booking_id}")


def actions(page, booking_id: str):
    """The Cancel / Reschedule block (or the policy notes) after a visit's row on /appointments."""
    return page.locator(f"#booking-{booking_id} + .visit-actions")


def section(page, title: str):
    return page.locator("section.card").filter(has=page.get_by_role("heading", name=title, exact=True))


class Api:
    """The live server's JSON API, as the demo patient (for set-up the pages cannot do fast)."""

    def __init__(self, base: str, email: str = PATIENT):
        self.base = base + "/api/v1"
        answer = requests.post(self.base + "/auth/token", json={"email": email, "password": DEMO_PASSWORD},
                               timeout=10)
        answer.raise_for_status()
        self.headers = {"Authorization": "Bearer " + answer.json()["access_token"]}

    def get(self, path: str, **params) -> dict:
        answer = requests.get(self.base + path, params=params, timeout=10,
                              headers={**self.headers, "X-Exposure-Variant": "all"})
        answer.raise_for_status()
        return answer.json()

    def post(self, path: str, body: dict, ok: bool = True) -> requests.Response:
        answer = requests.post(self.base + path, json=body, timeout=10,
                               headers={**self.headers, "Idempotency-Key": str(uuid.uuid4())})
        if ok:
            assert answer.status_code < 300, answer.text
        return answer

    def type_id(self, name: str) -> str:
        return next(t["id"] for t in self.get("/appointment-types")["appointment_types"] if t["name"] == name)

    def provider_id(self, name: str) -> str:
        return next(p["id"] for p in self.get("/providers")["providers"] if p["name"] == name)

    def slots(self, type_name: str, provider_name: str, first: date, last: date | None = None) -> list[dict]:
        return self.get("/slots", appointment_type_id=self.type_id(type_name),
                        provider_id=self.provider_id(provider_name), timezone=BERLIN,
                        **{"from": first.isoformat(), "to": (last or first).isoformat()})["slots"]

    def book(self, slot: dict) -> dict:
        held = self.post("/bookings", {"slot_id": slot["id"]} if slot["id"] else {
            "provider_id": slot["provider_id"], "appointment_type_id": slot["appointment_type_id"],
            "start": slot["start"]}).json()
        return self.post(f"/bookings/{held['id']}/confirm", {"hold_token": held["hold_token"]}).json()


# --- tests ---------------------------------------------------------------------------------

def test_guest_books_end_to_end_and_cancels_with_the_manage_link(berlin_context):
    context = berlin_context()
    page = new_page(context)
    choose_consultation_on(page, booking_day(0))
    page.locator("#results button.slot").first.click()

    expect(page).to_have_url(BOOKING_URL)
    expect(page.locator("h1")).to_have_text("Confirm your visit")
    # the hold's countdown runs: about ten minutes, and ticking
    countdown = page.locator(".hold-timer .countdown")
    expect(countdown).to_have_text(re.compile(r"^(10:00|9:[0-5]\d)$"))
    first = countdown.inner_text()
    expect(countdown).not_to_have_text(first, timeout=5_000)

    page.get_by_label("Full name").fill("Gina Guest")
    page.get_by_label("Email").fill("gina@example.com")
    page.get_by_label("Mobile phone").fill("12")
    page.get_by_role("button", name="Confirm booking").click()
    expect(page.locator("#phone-error")).to_be_visible()
    expect(page.locator("#phone")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("h1")).to_have_text("Confirm your visit")  # not booked
    expect(page).to_have_url(re.compile(r"/book/confirm/"))

    page.get_by_label("Mobile phone").fill("+49 30 1234567")
    page.get_by_role("button", name="Confirm booking").click()
    expect(page.locator("h1")).to_have_text("You're booked")
    expect(page.locator("#booking-result .badge")).to_have_text("confirmed")
    booking_id = booking_id_of(page)

    with page.expect_download() as download:
        page.get_by_role("link", name="Add to calendar (.ics)").click()
    ics = Path(download.value.path()).read_text()
    assert "BEGIN:VEVENT" in ics

    manage = page.locator("#manage-link")
    expect(manage).to_be_visible()
    manage.click()
    expect(page.locator("h1")).to_have_text("Your appointment")
    expect(row(page, booking_id)).to_contain_text(CONSULT)
    expect(row(page, booking_id).locator(".badge")).to_have_text("Confirmed")

    page.on("dialog", lambda dialog: dialog.accept())
    page.locator("#manage-booking .visit-actions").get_by_role("button", name="Cancel").click()
    expect(page.locator(".flash-success")).to_contain_text("Your appointment is cancelled")
    expect(row(page, booking_id).locator(".badge")).to_have_text("Cancelled")
    expect(page.locator("#manage-booking .visit-actions")).to_have_count(0)


def test_patient_books_reschedules_and_cancels(berlin_context):
    context = berlin_context()
    page = new_page(context)
    signed_in(page, PATIENT)
    day = booking_day(1)
    choose_consultation_on(page, day)
    page.locator("#results button.slot").first.click()
    expect(page.locator("h1")).to_have_text("Confirm your visit")
    expect(page.get_by_label("Email")).to_have_value(PATIENT)  # details come from the account
    page.get_by_role("button", name="Confirm booking").click()
    expect(page.locator("h1")).to_have_text("You're booked")
    booking_id = booking_id_of(page)
    when = page.locator("#booking-result dd").nth(1).inner_text()  # "Tue 24 Nov 2026, 08:00 Europe/Berlin"
    booked_at = re.search(r"\d\d:\d\d", when).group(0)

    page.locator("#booking-result").get_by_role("link", name="My appointments").click()
    upcoming = section(page, "Upcoming")
    expect(upcoming.locator(f"#booking-{booking_id}")).to_contain_text(day.strftime("%a %d %b"))
    expect(row(page, booking_id).locator(".time")).to_contain_text(booked_at + "–")

    actions(page, booking_id).get_by_role("link", name="Reschedule").click()
    expect(page).to_have_url(re.compile(rf"/appointments/{booking_id}/reschedule"))
    expect(page.locator("h1")).to_have_text("Move your appointment")
    page.locator(f'.date-strip a.day[href="?date={day.isoformat()}"]').click()
    expect(page.locator(f'.date-strip a.day.active[href="?date={day.isoformat()}"]')).to_be_visible()
    other = page.locator("button.slot").filter(has_not_text=booked_at).last
    moved_to = other.inner_text().strip()
    other.click()

    expect(page).to_have_url(re.compile(r"/appointments$"))
    expect(page.locator(".flash-success")).to_have_text("Your appointment has been moved.")
    expect(row(page, booking_id).locator(".time")).to_contain_text(moved_to + "–")
    expect(section(page, "Upcoming").locator(f"#booking-{booking_id}")).to_be_visible()

    page.on("dialog", lambda dialog: dialog.accept())
    actions(page, booking_id).get_by_role("button", name="Cancel").click()
    expect(page.locator(".flash-success")).to_contain_text("Your appointment is cancelled")
    past = section(page, "Past and cancelled").locator(f"#booking-{booking_id}")
    expect(past.locator(".badge")).to_have_text("Cancelled")
    expect(past.locator(".time")).to_contain_text(moved_to + "–")
    expect(section(page, "Upcoming").locator(f"#booking-{booking_id}")).to_have_count(0)


def _visit_inside_cancel_notice(api: Api) -> tuple[dict, str] | None:
    """The earliest free visit that starts inside its type's cancellation notice (a
    consultation within 24 hours, a physiotherapy request within 48), if there is one now."""
    now = datetime.now(timezone.utc)
    today = datetime.now(ZoneInfo(BERLIN)).date()
    for type_name, provider, notice, words in ((CONSULT, WEBER, 24, "1 day"), (PHYSIO, FISCHER, 48, "2 days")):
        for slot in api.slots(type_name, provider, today, today + timedelta(days=2)):
            if datetime.fromisoformat(slot["start"]) < now + timedelta(hours=notice, minutes=-10):
                return {**slot, "appointment_type_id": api.type_id(type_name)}, words
    return None


def test_policy_refusals_show_their_reason_instead_of_the_button(berlin_context, live_server):
    api = Api(live_server)
    # moved twice already (the consultation allows two moves online): no third
    slots = api.slots(CONSULT, WEBER, booking_day(2))
    assert len(slots) >= 3, slots
    moved = api.book(slots[0])
    for target in (slots[1], slots[2]):
        api.post(f"/bookings/{moved['id']}/reschedule", {"start": target["start"]})
    refused = api.post(f"/bookings/{moved['id']}/reschedule", {"start": slots[0]["start"]}, ok=False)
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "POLICY_VIOLATION", refused.text
    # and, when the clock allows one, a visit inside its cancellation notice (most days)
    inside = _visit_inside_cancel_notice(api)
    late = api.book(inside[0]) if inside else None

    context = berlin_context()
    page = new_page(context)
    signed_in(page, PATIENT)
    page.goto("/appointments")
    moved_actions = actions(page, moved["id"])
    expect(moved_actions.locator(".policy-note")).to_have_text(
        "Moving: This appointment has already been moved 2 times, the most allowed online. Please call the clinic.")
    expect(moved_actions.get_by_role("link", name="Reschedule")).to_have_count(0)
    expect(moved_actions.get_by_role("button", name="Cancel")).to_be_visible()  # cancelling is still allowed
    expect(moved_actions.locator(".clinic-phone a")).to_have_attribute("href", "tel:+49301234567")  # whom to call
    # the reschedule page itself explains instead of offering times
    page.goto(f"/appointments/{moved['id']}/reschedule")
    expect(page.locator(".flash-warning")).to_contain_text("already been moved 2 times")
    expect(page.locator("button.slot")).to_have_count(0)

    if late is not None:
        words = inside[1]
        page.goto("/appointments")
        late_actions = actions(page, late["id"])
        expect(late_actions.locator(".policy-note").filter(has_text="Cancelling:")).to_have_text(
            f"Cancelling: This appointment can only be cancelled online up to {words} before it starts. "
            "Please call the clinic.")
        expect(late_actions.get_by_role("button", name="Cancel")).to_have_count(0)
        expect(late_actions.get_by_role("link", name="Reschedule")).to_have_count(0)


def test_expired_hold_says_so_and_a_released_hold_cannot_be_confirmed(berlin_context, live_server):
    day = booking_day(3)
    api = Api(live_server)
    query = (f"/book?appointment_type_id={api.type_id(CONSULT)}&provider_id={api.provider_id(WEBER)}"
             f"&date={day.isoformat()}&all=1&tz=Europe/Berlin")

    # in the browser: the countdown reaches zero and the page says the hold ran out
    guest = berlin_context()
    page = new_page(guest)
    page.clock.install()
    page.goto(query)
    page.locator("button.slot").first.click()
    expect(page.locator("h1")).to_have_text("Confirm your visit")
    expect(page.locator(".hold-timer .countdown")).to_have_text(re.compile(r"^(10:00|9:[0-5]\d)$"))
    page.clock.fast_forward("11:00")
    timer = page.locator(".hold-timer")
    expect(timer).to_have_text("Your hold ran out. Please pick a time again.")
    expect(timer).to_have_class(re.compile(r"\bexpired\b"))
    expect(page.get_by_role("alert")).to_have_text("Your hold ran out. Please pick a time again.")  # read out
    expect(page.get_by_role("button", name="Confirm booking")).to_be_disabled()

    # on the server: confirming a hold that is no longer held sends the patient back to the
    # finder with the hold-ran-out message, and the time is free again
    context = berlin_context()
    page = new_page(context)
    signed_in(page, PATIENT)
    page.goto(query)
    slot = page.locator("button.slot").first
    start = slot.get_attribute("data-start")
    slot.click()
    expect(page.locator("h1")).to_have_text("Confirm your visit")
    api.post(f"/bookings/{booking_id_of(page)}/cancel", {})  # the hold is released behind the page's back
    page.get_by_role("button", name="Confirm booking").click()
    expect(page.locator(".flash-warning")).to_have_text(
        "Your hold ran out and the time was released. Please pick a time again.")
    expect(page).to_have_url(re.compile(rf"/book\?.*date={day.isoformat()}"))
    page.goto(query)  # every time of the day, not just the suggested ones
    expect(page.locator(f'button.slot[data-start="{start}"]')).to_be_visible()
