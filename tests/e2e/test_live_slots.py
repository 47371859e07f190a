"""Live slot lists across two browsers: a time one berlin_page holds disappears from the other
berlin_page's list within seconds, without a reload, also after the list was swapped by HTMX.

Uses its own days (the 5th and 6th working day ahead; tests/e2e/test_patient_booking.py
books on the first four) on Dr. Anna Weber's calendar.
"""
from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import requests
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e

BERLIN = "Europe/Berlin"
LIVE_SECONDS = 5_000  # ms: a published event reaches the other browser well within this


def working_day(n: int) -> date:
    """The n-th working day (Mon-Fri, Berlin) at least two days ahead (as in test_patient_booking)."""
    today = datetime.now(ZoneInfo(BERLIN)).date()
    days = [today + timedelta(days=d) for d in range(2, 14) if (today + timedelta(days=d)).isoweekday() <= 5]
    return days[n]


@pytest.fixture(scope="module")
def weber_consultation(live_server) -> dict[str, str]:
    """Ids of the General consultation and Dr. Anna Weber, from the public API."""
    api = live_server + "/api/v1"
    types = requests.get(api + "/appointment-types", timeout=10).json()["appointment_types"]
    kind = next(t for t in types if t["name"] == "General consultation")
    providers = requests.get(api + "/providers", params={"appointment_type_id": kind["id"]}, timeout=10).json()
    weber = next(p for p in providers["providers"] if p["name"] == "Dr. Anna Weber")
    return {"appointment_type_id": kind["id"], "provider_id": weber["id"]}



def open_day(page, ids: dict[str, str], day: date) -> None:
    page.goto(f"/book?appointment_type_id={ids['appointment_type_id']}&provider_id={ids['provider_id']}"
              f"&date={day.isoformat()}&all=1&tz={BERLIN}")
    expect(page.locator("#results button.slot").first).to_be_visible()
    expect(page.locator("body[data-live='connected']")).to_be_attached()  # no eval: the CSP forbids it


def slot(page, start: str):
    return page.locator(f'#results button.slot[data-start="{start}"]')


def test_a_held_time_disappears_from_another_visitors_list_live(berlin_page, weber_consultation):
    day, other_day = working_day(4), working_day(5)
    a, b = berlin_page(), berlin_page()
    # B first: the server says "subscribed" a moment before its Redis subscription is really
    # active (app/realtime/ws.py), so B gets A's page load of head start before A holds
    open_day(b, weber_consultation, day)
    open_day(a, weber_consultation, day)
    b.evaluate("window.__sameDocument = 'still here'")  # gone if B reloads or navigates
    b_url = b.url

    start = b.locator("#results button.slot").nth(2).get_attribute("data-start")
    expect(slot(a, start)).to_be_visible()
    slot(a, start).click()
    expect(a.locator("h1")).to_have_text("Confirm your visit")  # A holds it

    expect(slot(b, start)).to_have_count(0, timeout=LIVE_SECONDS)
    assert b.url == b_url
    assert b.evaluate("window.__sameDocument") == "still here"

    # B moves to another day and back: #results is replaced by HTMX each time
    b.locator(f'#results .date-strip a.day[href*="date={other_day.isoformat()}"]').click()
    expect(b.locator(f'#results a.day.active[href*="date={other_day.isoformat()}"]')).to_be_visible()
    b.locator(f'#results .date-strip a.day[href*="date={day.isoformat()}"]').click()
    expect(b.locator(f'#results a.day.active[href*="date={day.isoformat()}"]')).to_be_visible()
    expect(b.locator("#results button.slot").first).to_be_visible()
    assert b.evaluate("window.__sameDocument") == "still here"
    assert b.evaluate("document.body.dataset.live") == "connected"

    # ... and still follows the clinic: A holds another time B shows, and B loses it live
    starts = b.locator("#results button.slot").evaluate_all("buttons => buttons.map(b => b.dataset.start)")
    assert start not in starts
    second = starts[-1]
    open_day(a, weber_consultation, day)
    slot(a, second).click()
    expect(a.locator("h1")).to_have_text("Confirm your visit")
    expect(slot(b, second)).to_have_count(0, timeout=LIVE_SECONDS)
    assert b.evaluate("window.__sameDocument") == "still here"
    assert re.search(rf"date={day.isoformat()}", b.url)
