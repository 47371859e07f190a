"""Every demo login lands on its audience's home page with real content, in Chromium."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.pages import mail_to, sign_in

pytestmark = pytest.mark.e2e



@pytest.mark.parametrize(
    ("email", "path", "content"),
    [
        # the patient sees their own upcoming visit with Dr. Weber
        ("patient@riverside.example", "/", "Dr. Anna Weber"),
        # the provider's agenda names the patient of the next booking
        ("weber@riverside.example", "/provider/", "Paula Patient"),
        # the front desk queue lists a guest's pending physiotherapy request
        ("frontdesk@riverside.example", "/frontdesk/", "Lena Braun"),
        # managers and admins land on the clinic overview with both time zones
        ("manager@riverside.example", "/admin/", "America/New_York"),
        ("admin@riverside.example", "/admin/", "Europe/Berlin"),
    ],
)
def test_demo_login_lands_on_its_home_with_real_content(page, live_server, email, path, content):
    sign_in(page, email)
    expect(page).to_have_url(re.compile(re.escape(live_server + path) + r"$"))
    expect(page.locator("main")).to_contain_text(content)
    expect(page.locator(".flash-success")).to_contain_text("Welcome back")


def test_wrong_password_shows_a_clear_error_at_the_field(page):
    sign_in(page, "admin@riverside.example", "not-the-password")
    expect(page.locator(".field-error")).to_have_text("Email or password is not correct.")
    expect(page).to_have_url(re.compile(r"/auth/login$"))
    expect(page.get_by_label("Password")).to_be_focused()  # the keyboard lands on the field to mend


def test_patient_opening_admin_gets_the_403_page(page):
    sign_in(page, "patient@riverside.example")
    response = page.goto("/admin/")
    assert response.status == 403
    expect(page.locator("h1")).to_have_text("You don't have access to this page")


def test_sign_out_returns_to_sign_in_and_protects_pages(page):
    sign_in(page, "frontdesk@riverside.example")
    page.get_by_role("button", name="Sign out").click()
    expect(page.locator(".flash-info")).to_contain_text("signed out")
    page.goto("/frontdesk/")
    expect(page).to_have_url(re.compile(r"/auth/login\?next="))


def test_new_patient_registers_with_browser_timezone_and_lands_home(browser, live_server, mail_worker):
    context = browser.new_context(base_url=live_server, timezone_id="America/Chicago")
    page = context.new_page()
    page.goto("/auth/register")
    page.get_by_label("Full name").fill("Rita Register")
    page.get_by_label("Email").fill("rita@riverside.example")
    page.get_by_label("Password", exact=True).fill("a-long-password")
    page.get_by_label("Repeat password").fill("a-long-password")
    page.get_by_role("button", name="Create account").click()
    expect(page.locator("h1")).to_have_text("Check your email")
    mail = mail_to(mail_worker, "rita@riverside.example", "Confirm your email")
    page.goto(re.search(r"https?://\S+/auth/confirm/\S+", mail.message.get_body(("plain",)).get_content()).group(0))
    page.get_by_role("button", name="Confirm and sign in").click()
    expect(page.locator("h1")).to_have_text("Hello, Rita Register")
    page.goto("/appointments")
    expect(page.locator(".subtitle")).to_contain_text("your time zone, America/Chicago")
    context.close()
