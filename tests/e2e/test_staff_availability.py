"""Staff change availability and a patient's open finder follows, without a reload:

- Dr. Maya Chen asks for a day off, the manager approves it, and the patient's list of
  her times for that day empties;
- Sam Rivera moves his Tuesday hours in the weekly hours editor (whose preview shows the
  change before saving), and the patient's list of his Tuesday shows the new times.

Both work on New York clinicians nobody else in the browser suite books or changes.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import requests
from playwright.sync_api import expect

from tests.e2e.pages import new_page, signed_in

pytestmark = pytest.mark.e2e

NEW_YORK = "America/New_York"
LIVE = 5_000  # ms


def ny_day(iso_weekday: int, min_days: int = 2) -> date:
    day = datetime.now(ZoneInfo(NEW_YORK)).date() + timedelta(days=min_days)
    while day.isoweekday() != iso_weekday:
        day += timedelta(days=1)
    return day


def ids(live_server, type_name: str, provider_name: str) -> tuple[str, str]:
    api = live_server + "/api/v1"
    types = requests.get(api + "/appointment-types", timeout=10).json()["appointment_types"]
    kind = next(t for t in types if t["name"] == type_name)
    providers = requests.get(api + "/providers", params={"appointment_type_id": kind["id"]}, timeout=10).json()
    return kind["id"], next(p["id"] for p in providers["providers"] if p["name"] == provider_name)


@pytest.fixture
def new_york_page(browser, live_server):
    """Factory: a page in a new New York context that already told the server its zone."""
    opened = []

    def make():
        context = browser.new_context(base_url=live_server, viewport={"width": 1280, "height": 900},
                                      timezone_id=NEW_YORK, locale="en-US")
        context.add_cookies([{"name": "bw_tz", "value": "America%2FNew_York", "url": live_server}])
        opened.append(context)
        return new_page(context)

    yield make
    for context in opened:
        context.close()


def open_finder(page, type_id: str, provider_id: str, day: date):
    page.goto(f"/book?appointment_type_id={type_id}&provider_id={provider_id}&date={day.isoformat()}"
              f"&all=1&tz={NEW_YORK}")
    expect(page.locator("body[data-live='connected']")).to_be_attached()  # no eval: the CSP forbids it
    page.evaluate("window.__sameDocument = 'still here'")
    return page.locator("#results button.slot strong")


def test_approving_time_off_empties_the_patients_list_of_that_day(new_york_page, live_server):
    type_id, chen_id = ids(live_server, "General consultation", "Dr. Maya Chen")
    day = ny_day(3)  # a Wednesday: Dr. Chen works Monday to Thursday
    patient = new_york_page()
    signed_in(patient, "olivia@riverside.example")
    times = open_finder(patient, type_id, chen_id, day)
    expect(times.first).to_be_visible()
    assert times.count() >= 4

    chen = new_york_page()
    signed_in(chen, "chen@riverside.example")
    chen.goto("/provider/")
    chen.locator("#off-first").fill(day.isoformat())
    chen.locator("#off-reason").fill("Conference")
    chen.get_by_role("button", name="Send request").click()
    expect(chen.locator(".flash-success")).to_contain_text("Time off requested")
    expect(times.first).to_be_visible()  # a request alone changes nothing for patients

    manager = new_york_page()
    signed_in(manager, "manager@riverside.example")
    manager.goto("/admin/time-off")
    row = manager.locator("#time-off tbody tr").filter(has_text="Dr. Maya Chen").filter(has_text="Conference")
    expect(row.locator(".badge")).to_have_text("pending")
    row.get_by_role("button", name="Approve").click()
    expect(manager.locator(".flash")).to_contain_text("Approved")
    expect(row.locator(".badge")).to_have_text("approved")

    expect(times).to_have_count(0, timeout=LIVE)
    expect(patient.locator("#results")).to_contain_text("No free times on this day.")
    assert patient.evaluate("window.__sameDocument") == "still here"


def test_new_weekly_hours_reach_the_patients_list_live(new_york_page, live_server):
    type_id, rivera_id = ids(live_server, "Video follow-up", "Sam Rivera")
    day = ny_day(2)  # a Tuesday: Sam Rivera works Tuesday to Saturday, 10:00-18:00
    patient = new_york_page()
    signed_in(patient, "olivia@riverside.example")
    times = open_finder(patient, type_id, rivera_id, day)
    expect(times.first).to_have_text("10:00")

    rivera = new_york_page()
    signed_in(rivera, "rivera@riverside.example")
    rivera.goto("/provider/hours")
    expect(rivera.locator("h1")).to_have_text("Weekly hours")
    tuesday = rivera.locator("#day-2")
    expect(tuesday.locator('input[name="day2-works"]')).to_be_checked()
    rivera.locator("#hours-form select[name=appointment_type_id]").select_option(label="Video follow-up")
    tuesday.locator('input[name="day2-start"]').fill("07:00")
    tuesday.locator('input[name="day2-end"]').fill("09:00")
    tuesday.locator('input[name="day2-break1_start"]').fill("")
    tuesday.locator('input[name="day2-break1_end"]').fill("")
    tuesday.locator('input[name="day2-break1_end"]').dispatch_event("change")

    # the preview shows the change before anything is saved ...
    preview = rivera.locator(f'#hours-preview .preview-day[data-date="{day.isoformat()}"]')
    expect(preview.locator(".slot-added").first).to_have_text("07:00", timeout=LIVE)
    expect(preview.locator(".slot-removed").first).to_contain_text("10:00")
    expect(times.first).to_have_text("10:00")  # ... and patients still see the old hours

    rivera.get_by_role("button", name="Save weekly hours").click()
    expect(rivera.locator(".flash-success")).to_contain_text("Weekly hours at New York Midtown saved")
    expect(rivera.locator('input[name="day2-start"]')).to_have_value("07:00")

    expect(times.first).to_have_text("07:00", timeout=LIVE)
    shown = times.all_inner_texts()
    assert all("07:00" <= t < "09:00" for t in shown), shown
    assert patient.evaluate("window.__sameDocument") == "still here"
