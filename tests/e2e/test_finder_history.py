"""The patient finder's address is the source of truth in Chromium: a deep link keeps its day
on a first visit (while the page learns the browser's time zone), and Back shows the pickers
that match the times beside them."""
from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from tests.e2e.pages import new_page

pytestmark = pytest.mark.e2e

CONSULT = "General consultation"


def _weekday_ahead(days: int):
    day = datetime.now(ZoneInfo("Europe/Berlin")).date() + timedelta(days=days)
    while day.isoweekday() > 5:
        day += timedelta(days=1)
    return day


def test_a_deep_link_keeps_its_day_on_a_first_visit(browser, live_server):
    context = browser.new_context(base_url=live_server, viewport={"width": 1280, "height": 900},
                                  timezone_id="Europe/Berlin")  # no bw_tz cookie: a first visit
    try:
        page = new_page(context)
        page.goto("/book")
        type_id = page.locator("#appointment_type_id option", has_text=CONSULT).get_attribute("value")
        context.clear_cookies()
        day = _weekday_ahead(9)
        page.goto(f"/book?appointment_type_id={type_id}&date={day.isoformat()}")
        expect(page).to_have_url(f"{live_server}/book?appointment_type_id={type_id}&date={day.isoformat()}"
                                 "&tz=Europe%2FBerlin")
        expect(page.locator(f'#results a.day.active[href*="date={day.isoformat()}"]')).to_be_visible()
        expect(page.locator("#tz")).to_have_value("Europe/Berlin")
    finally:
        context.close()


def test_back_shows_the_pickers_that_match_the_times(berlin_page):
    page = berlin_page()
    page.goto("/book")
    first_type = page.locator("#appointment_type_id").input_value()
    expect(page.locator("#tz")).to_have_value("Europe/Berlin")
    physio = page.locator("#appointment_type_id option", has_text="Physiotherapy").get_attribute("value")
    page.locator("#appointment_type_id").select_option(physio)
    page.wait_for_url(f"**appointment_type_id={physio}**")
    fischer = page.locator("#provider_id option", has_text="Jonas Fischer").get_attribute("value")
    page.locator("#provider_id").select_option(fischer)
    page.wait_for_url(f"**provider_id={fischer}**")
    page.locator("#tz").select_option("America/New_York")
    page.wait_for_url("**tz=America%2FNew_York**")

    page.go_back()  # before the zone changed
    page.wait_for_url(f"**provider_id={fischer}**tz=Europe%2FBerlin**")
    expect(page.locator("#tz")).to_have_value("Europe/Berlin")
    expect(page.locator("#provider_id")).to_have_value(fischer)
    page.go_back()  # before the clinician was chosen
    page.wait_for_url(lambda url: f"provider_id={fischer}" not in url)
    expect(page.locator("#provider_id")).to_have_value("")
    expect(page.locator("#appointment_type_id")).to_have_value(physio)
    page.go_back()  # the first page
    expect(page.locator("#appointment_type_id")).to_have_value(first_type)


def test_a_clinics_own_address_connects_its_live_socket(berlin_page):
    """Under /o/<slug> the socket serves that clinic, as the page does (a guest there was
    refused the clinic's channels at the plain /ws)."""
    page = berlin_page()
    page.goto("/o/demo/book")
    expect(page.locator("body[data-live='connected']")).to_be_attached()
    expect(page.locator("body")).to_have_attribute("data-ws-path", "/o/demo/ws")
