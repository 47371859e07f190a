"""The time grid and the finder in Chromium against the live server: a visit's block sits on the
grid line of its start and is as tall as its duration (desktop and phone), its buffer beside
it; a free gap on the front desk's day leads into booking for a caller with that time
suggested; the finder's clinician list follows the visit type and a chosen clinician is kept.

Books on its own day: the 9th working day ahead (the other e2e tests use the first eight), on
Dr. Anna Weber's calendar (Mon-Fri 08:00-16:00, Berlin; consultations of 30 minutes with a
5-minute buffer after).
"""
from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from tests.e2e.pages import new_page, signed_in
from tests.e2e.test_patient_booking import CONSULT, WEBER, Api

pytestmark = pytest.mark.e2e

BERLIN = "Europe/Berlin"
PX = 1.5  # layout rounding


def working_day(n: int) -> date:
    today = datetime.now(ZoneInfo(BERLIN)).date()
    days = [today + timedelta(days=d) for d in range(2, 20) if (today + timedelta(days=d)).isoweekday() <= 5]
    return days[n]


@pytest.fixture(scope="module")
def weber_visit(live_server) -> dict:
    """A confirmed consultation with Dr. Weber on the test's day, at 10:30 if that is free."""
    api = Api(live_server)
    def local(slot):
        return datetime.fromisoformat(slot["start"].replace("Z", "+00:00")).astimezone(ZoneInfo(BERLIN))

    # The live server is shared with other modules, which may have booked Weber's mornings already:
    # take the first day from the eighth working day on whose morning is still open.
    for n in range(8, 12):
        day = working_day(n)
        morning = [s for s in api.slots(CONSULT, WEBER, day) if local(s).hour < 11]  # a gap follows before 12:00
        if morning:
            break
    slot = next((s for s in morning if local(s).strftime("%H:%M") == "10:30"), morning[0])
    booked = api.book(slot)
    start = datetime.fromisoformat(booked["start"].replace("Z", "+00:00")).astimezone(ZoneInfo(BERLIN))
    return {"id": booked["id"], "day": day, "start": start, "weber_id": api.provider_id(WEBER)}


def box(locator) -> dict:
    found = locator.bounding_box()
    assert found is not None
    return found


@pytest.mark.parametrize("width", [1280, 390])
def test_a_visit_block_sits_at_its_start_and_is_as_tall_as_its_duration(browser, live_server, weber_visit, width):
    context = browser.new_context(base_url=live_server, viewport={"width": width, "height": 900},
                                  timezone_id=BERLIN)
    page = new_page(context)
    try:
        signed_in(page, "weber@riverside.example")
        page.goto(f"/provider/?date={weber_visit['day'].isoformat()}")
        event = page.locator(f"#event-{weber_visit['id']}")
        expect(event).to_be_visible()
        expect(event).to_contain_text("Paula Patient")
        column = page.locator(".tg-col").first
        labels = page.locator(".tg-hour").all_inner_texts()
        start = weber_visit["start"]
        hour = column.locator(".tg-line").nth(labels.index(f"{start.hour:02d}:00"))

        hour_box, event_box = box(hour), box(event)
        per_minute = hour_box["height"] / 60
        assert abs(event_box["y"] - (hour_box["y"] + start.minute * per_minute)) <= PX  # on its start
        assert abs(event_box["height"] - 30 * per_minute) <= PX  # 30 minutes tall
        after = column.locator(".tg-buffer")
        buffers = [box(after.nth(i)) for i in range(after.count())]
        below = [b for b in buffers if abs(b["y"] - (event_box["y"] + event_box["height"])) <= PX]
        assert below and abs(below[0]["height"] - 5 * per_minute) <= PX  # the 5-minute buffer after it
        assert event_box["width"] > 150  # readable on a phone too: one full-width column

        event.click()  # its details open beside the grid, or below it and scrolled into sight
        expect(page.locator("#detail h2")).to_have_text("Paula Patient")
        expect(page.locator("#detail")).to_be_in_viewport()
    finally:
        context.close()


def test_a_free_gap_on_the_front_desk_day_books_a_caller_at_that_time(berlin_page, weber_visit):
    page = berlin_page()
    signed_in(page, "frontdesk@riverside.example")
    page.goto(f"/frontdesk/day?date={weber_visit['day'].isoformat()}")
    column = page.locator(f'.tg-col[data-column="{weber_visit["weber_id"]}"]')
    expect(column.locator(f"#booking-{weber_visit['id']}")).to_be_visible()
    end = weber_visit["start"] + timedelta(minutes=35)  # the visit and its buffer
    gap = column.locator(f'a.tg-free[data-start="{end.astimezone(timezone.utc).isoformat()}"]')

    gap.hover()
    expect(gap).to_contain_text(f"Book {end.strftime('%H:%M')}")
    gap.click()
    expect(page.locator(".flash-info")).to_contain_text(f"Booking {WEBER} at Berlin Mitte")
    page.get_by_label("Name, email or phone").fill("Paula")
    page.get_by_role("button", name="Search").click()
    page.locator("#find-patient").get_by_role("link", name="Book").first.click()

    suggested = page.locator("a.slot.is-suggested")
    expect(suggested).to_have_count(1)
    first_open = datetime.fromisoformat(suggested.get_attribute("data-start"))
    assert end <= first_open < end + timedelta(minutes=30)  # the first open time in that gap (30-minute grid)
    expect(page.locator("#provider_id")).to_have_value(weber_visit["weber_id"])


def choose(page, select: str, starting: str) -> None:
    """Pick the option of a select whose text starts with `starting`, and wait for the refetched
    times (their day links carry the choice)."""
    value = page.locator(f"{select} option", has_text=re.compile("^" + re.escape(starting))).get_attribute("value")
    page.locator(select).select_option(value=value)
    expect(page.locator(f'#results .date-strip a.day[href*="{select[1:]}={value}"]').first).to_be_visible()


def test_the_finders_clinician_list_follows_the_visit_type_and_keeps_a_chosen_clinician(berlin_page):
    page = berlin_page()
    page.goto("/book")
    clinicians = page.locator("#provider_id option")

    choose(page, "#appointment_type_id", "Physiotherapy session")
    expect(clinicians).to_have_text(["Any clinician", re.compile("^Jonas Fischer")])
    choose(page, "#appointment_type_id", "Video follow-up")
    expect(clinicians).to_have_text(["Any clinician", re.compile("^Dr. Anna Weber"), re.compile("^Dr. Maya Chen"),
                                     re.compile("^Sam Rivera")])

    choose(page, "#provider_id", "Sam Rivera")
    rivera = page.locator("#provider_id").input_value()
    expect(page.locator("#results button.slot").first).to_be_visible()
    held_for = page.locator('#results input[name="provider_id"]').evaluate_all("els => els.map(e => e.value)")
    assert held_for and set(held_for) == {rivera}  # only Sam Rivera's times

    choose(page, "#appointment_type_id", "General consultation")
    expect(page.locator("#dropped-provider")).to_contain_text("Sam Rivera does not offer General consultation")
    expect(page.locator("#provider_id")).to_have_value("")
    expect(clinicians).to_have_text(["Any clinician", re.compile("^Dr. Anna Weber"), re.compile("^Dr. Maya Chen")])


def test_on_a_phone_the_front_desk_day_is_one_clinician_wide_and_never_wider_than_the_screen(browser, live_server,
                                                                                            weber_visit):
    context = browser.new_context(base_url=live_server, viewport={"width": 390, "height": 844}, timezone_id=BERLIN)
    page = new_page(context)
    try:
        signed_in(page, "frontdesk@riverside.example")
        page.goto(f"/frontdesk/day?date={weber_visit['day'].isoformat()}")
        first = page.locator(".tg-col").first
        expect(first.locator(f"#booking-{weber_visit['id']}")).to_be_visible()

        assert page.evaluate("document.documentElement.scrollWidth") <= 390  # the grid scrolls, not the page
        scroller = box(page.locator(".tg-scroll"))
        column = box(first)
        assert column["width"] >= scroller["width"] - box(page.locator(".tg-axis"))["width"] - 2  # one at a time
        page.locator(".tg-jump a").nth(1).click()  # the chips jump to the next clinician
        expect(page.locator(".tg-head").nth(1)).to_be_in_viewport(ratio=0.9)
        expect(page.locator(".tg-head").nth(0)).not_to_be_in_viewport(ratio=0.5)
    finally:
        context.close()
