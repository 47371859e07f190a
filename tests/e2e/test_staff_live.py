"""The staff pages follow the clinic live, in three Chromium contexts against the live server:
a patient's physiotherapy request appears on Jonas Fischer's week calendar (with his pending
badge counting it) and in the front desk's queue without a reload, and when the front desk
accepts it the patient's "My appointments" page and the calendar turn it to Confirmed, again
without a reload.

Books on its own day: the 7th working day ahead (tests/e2e/test_patient_booking.py and
tests/e2e/test_live_slots.py use the first six), on Jonas Fischer's calendar.
"""
from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import requests
from playwright.sync_api import expect


from tests.e2e.pages import signed_in  # noqa: E402

pytestmark = pytest.mark.e2e

BERLIN = "Europe/Berlin"
LIVE = 5_000  # ms: a published event reaches the other browsers well within this
PHYSIO = "Physiotherapy session"
FISCHER = "Jonas Fischer"
PATIENT_NAME = "Olivia Park"
DONE_URL = re.compile(r"/book/done/([0-9a-f-]{36})$")


def working_day(n: int) -> date:
    """The n-th working day (Mon-Fri, Berlin) at least two days ahead (as in the other e2e tests)."""
    today = datetime.now(ZoneInfo(BERLIN)).date()
    days = [today + timedelta(days=d) for d in range(2, 16) if (today + timedelta(days=d)).isoweekday() <= 5]
    return days[n]




def connected(page) -> None:
    """Wait until the page's socket is subscribed, then mark the document: the mark is gone
    if the page ever reloads or navigates."""
    expect(page.locator("body[data-live='connected']")).to_be_attached()  # no eval: the CSP forbids it
    page.evaluate("window.__sameDocument = 'still here'")


def same_document(page) -> bool:
    return page.evaluate("window.__sameDocument") == "still here"


def physio_with_fischer(live_server) -> tuple[str, str]:
    """(appointment_type_id, provider_id) from the public API."""
    api = live_server + "/api/v1"
    types = requests.get(api + "/appointment-types", timeout=10).json()["appointment_types"]
    kind = next(t for t in types if t["name"] == PHYSIO)
    providers = requests.get(api + "/providers", params={"appointment_type_id": kind["id"]}, timeout=10).json()
    return kind["id"], next(p["id"] for p in providers["providers"] if p["name"] == FISCHER)


def test_a_request_reaches_agenda_and_queue_live_and_its_acceptance_reaches_the_patient(berlin_page, live_server):
    day = working_day(6)
    type_id, fischer_id = physio_with_fischer(live_server)

    # (a) Jonas Fischer's week with the target day, (b) the front desk: both open and following
    agenda = berlin_page()
    signed_in(agenda, "fischer@riverside.example")
    agenda.goto(f"/provider/?view=week&date={day.isoformat()}")
    column = agenda.locator(f'#agenda .tg-col[data-column="{day.isoformat()}"]')
    expect(column).to_have_count(1)
    badge = agenda.locator("#pending-badge")
    waiting = int(badge.inner_text().split()[0])
    connected(agenda)
    desk = berlin_page()
    signed_in(desk, "frontdesk@riverside.example")
    desk.goto("/frontdesk/")
    connected(desk)

    # (c) Olivia Park asks for a physiotherapy session on that day
    patient = berlin_page()
    signed_in(patient, "olivia@riverside.example")
    patient.goto(f"/book?appointment_type_id={type_id}&provider_id={fischer_id}&date={day.isoformat()}"
                 f"&all=1&tz={BERLIN}")
    slots = patient.locator("#results button.slot")
    expect(slots.first).to_be_visible()
    slots.nth(min(2, slots.count() - 1)).click()  # a time still free: the list only offers those
    expect(patient.locator("h1")).to_have_text("Confirm your visit")
    patient.get_by_role("button", name="Send request").click()
    expect(patient.locator("h1")).to_have_text("Request sent")
    expect(patient).to_have_url(DONE_URL)
    booking_id = DONE_URL.search(patient.url).group(1)

    # the request appears on the agenda's day and in the queue, without a reload
    item = column.locator(f"a#event-{booking_id}")
    expect(item).to_contain_text(PATIENT_NAME, timeout=LIVE)
    expect(item).to_contain_text(f"{PHYSIO} · Awaiting approval")
    expect(item).to_have_class(re.compile(r"\bstatus-pending\b"))
    expect(badge).to_have_text(f"{waiting + 1} awaiting approval", timeout=LIVE)  # the header follows too
    request = desk.locator(f"#request-{booking_id}")
    expect(request).to_contain_text(PATIENT_NAME, timeout=LIVE)
    expect(request).to_contain_text(f"{PHYSIO} with {FISCHER}")
    assert same_document(agenda) and same_document(desk)

    # the patient's list, open and following before the front desk decides
    patient.goto("/appointments")
    visit = patient.locator(f"#booking-{booking_id}")
    expect(visit.locator(".badge")).to_have_text("Awaiting approval")
    connected(patient)

    request.get_by_role("button", name="Accept").click()
    expect(desk.locator(".flash-success")).to_have_text("Accepted; the patient is told.")
    expect(desk.locator(f"#request-{booking_id}")).to_have_count(0)

    expect(visit.locator(".badge")).to_have_text("Confirmed", timeout=LIVE)
    assert same_document(patient)
    expect(item).to_have_class(re.compile(r"\bstatus-confirmed\b"), timeout=LIVE)  # and on the calendar
    expect(badge).to_have_text(f"{waiting} awaiting approval", timeout=LIVE)
    expect(agenda.locator("#coming-up")).to_contain_text(PATIENT_NAME)  # next appointments, refreshed
    assert same_document(agenda)
