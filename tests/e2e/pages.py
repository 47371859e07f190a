"""Small helpers the browser tests share."""
from __future__ import annotations

from playwright.sync_api import expect

from tests.smtp_sink import SmtpSink

from app.demo_seed import DEMO_PASSWORD


def new_page(context):
    page = context.new_page()
    page.set_default_timeout(10_000)
    return page


def sign_in(page, email: str, password: str = DEMO_PASSWORD) -> None:
    """Submit the sign-in form (the outcome is the caller's to check)."""
    page.goto("/auth/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def signed_in(page, email: str) -> None:
    sign_in(page, email)
    expect(page.locator(".flash-success")).to_contain_text("Welcome back")


def mail_to(sink: SmtpSink, address: str, subject: str):
    """The first message to `address` whose subject contains `subject` (waits for it)."""
    def found():
        return next((m for m in sink.messages if m.to == address and subject in m.subject), None)

    sink.wait_until(lambda: found() is not None, what=f"an email to {address} about {subject!r}")
    return found()
