"""A patient who forgot their password gets back in, in Chromium: "Forgot password?", the
email read from the real SMTP sink (sent by a real RQ worker), the link, a refused weak
password, a new one, signed in; the used link no longer works."""
from __future__ import annotations

import re
import pytest
from playwright.sync_api import expect

from tests.e2e.pages import mail_to, sign_in
from tests.processes import flask_cli, process_env

pytestmark = pytest.mark.e2e
ROSA = "rosa.reset@example.com"
LINK = re.compile(r"https?://\S+/auth/reset/\S+")


@pytest.fixture(scope="module")
def rosa(live_database, redis_url):
    """A patient of her own for this test (the shared demo logins keep their password)."""
    env = process_env(live_database, redis_url)
    result = flask_cli(["users", "create", "--email", ROSA, "--password", "first rosa password", "--role",
                        "patient", "--name", "Rosa Reset", "--organization", "demo"], env)
    assert result.returncode == 0, result.stderr
    return ROSA


def test_forgot_password_email_link_sets_a_new_password_and_signs_in(page, live_server, mail_worker, rosa):
    page.goto("/auth/login")
    page.get_by_role("link", name="Forgot password?").click()
    page.get_by_label("Email").fill(ROSA)
    page.get_by_role("button", name="Send me a link").click()
    expect(page.locator("h1")).to_have_text("Check your email")

    mail = mail_to(mail_worker, ROSA, "Set a new password")
    link = LINK.search(mail.message.get_body(("plain",)).get_content()).group(0)
    assert link.startswith(live_server)

    page.goto(link)
    expect(page.locator("h1")).to_have_text("Choose your password")
    page.get_by_label("New password").fill("1234567890")
    page.get_by_label("Repeat password").fill("1234567890")
    page.get_by_role("button", name="Save password").click()
    expect(page.locator("#password-error")).to_contain_text("most common passwords")

    page.get_by_label("New password").fill("lantern orchard pebble")
    page.get_by_label("Repeat password").fill("lantern orchard pebble")
    page.get_by_role("button", name="Save password").click()
    expect(page.locator(".flash-success")).to_contain_text("Your password is set")
    expect(page).to_have_url(live_server + "/")

    page.goto(link)  # used once: it no longer works
    expect(page.locator("h1")).to_have_text("This link does not work any more")

    page.context.clear_cookies()
    sign_in(page, ROSA, "first rosa password")  # the old password is gone
    expect(page.locator(".field-error")).to_have_text("Email or password is not correct.")
    sign_in(page, ROSA, "lantern orchard pebble")
    expect(page.locator(".flash-success")).to_contain_text("Welcome back")
