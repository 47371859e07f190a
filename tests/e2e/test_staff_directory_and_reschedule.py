"""The front desk finds patients by phone and moves a visit, in Chromium against the live server:

- the directory's one search box finds Paula Patient from the start of her mobile number
  typed the way people say it ("0151 1234") and Olivia Park from her last digits, as you
  type (HTMX active search: the page never reloads), with the whole number to call back;
- from Olivia's patient page the front desk moves her consultation with Dr. Maya Chen to a
  free time on a Thursday (no other browser test books Dr. Chen), and the page shows it.
"""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.pages import signed_in

pytestmark = pytest.mark.e2e


def test_the_directory_finds_patients_by_phone_as_you_type(page):
    signed_in(page, "frontdesk@riverside.example")
    page.get_by_role("link", name="Patients").click()
    expect(page).to_have_url(re.compile(r"/frontdesk/patients$"))
    page.evaluate("window.__sameDocument = 'still here'")
    box = page.get_by_label("Name, email or phone")

    box.press_sequentially("0151 1234", delay=20)

    result = page.locator("#directory-results .directory-entry")
    expect(result).to_have_count(1)
    expect(result).to_contain_text("Paula Patient")
    expect(result.locator(".phone")).to_have_text("+4915112345678")
    box.fill("")
    box.press_sequentially("555 0123", delay=20)
    expect(result).to_have_count(1)
    expect(result).to_contain_text("Olivia Park")
    expect(result.locator(".phone")).to_have_text("+12125550123")
    assert page.evaluate("window.__sameDocument") == "still here"  # found without a reload
    expect(page).to_have_url(re.compile(r"q=555(\+|%20)0123$"))  # and the address keeps the search


def test_the_front_desk_moves_a_visit_to_another_free_time(page):
    signed_in(page, "frontdesk@riverside.example")
    page.goto("/frontdesk/patients?q=Olivia")
    page.locator("#directory-results").get_by_role("link", name="Olivia Park").click()
    upcoming = page.locator("#upcoming .list-item").filter(has_text="General consultation")
    expect(upcoming).to_have_count(1)
    before = upcoming.locator(".when").inner_text()
    upcoming.get_by_role("link", name="Reschedule").click()

    expect(page.locator("h1")).to_contain_text("Move Olivia Park's appointment")
    # a Thursday: Dr. Chen's Wednesdays belong to tests/e2e/test_staff_availability.py
    page.locator(".date-strip a.day:not(.none)").filter(has_text="Thu").last.click()
    first_time = page.locator("#move-times button.slot").first
    expect(first_time).to_be_visible()
    new_time = first_time.inner_text()
    day_heading = page.locator("#reschedule h2").inner_text()
    first_time.click()

    expect(page.locator(".flash-success")).to_contain_text("Moved Olivia Park to")
    expect(page.locator(".flash-success")).to_contain_text("with Dr. Maya Chen")
    expect(page.locator(".flash-success")).to_contain_text("calendar invite is updated")
    moved = page.locator("#upcoming .list-item").filter(has_text="General consultation")
    expect(moved.locator(".time")).to_contain_text(new_time)
    assert moved.locator(".when").inner_text() != before
    assert day_heading.split(" · ")[0].split()[1] in moved.locator(".when").inner_text()  # the chosen day
