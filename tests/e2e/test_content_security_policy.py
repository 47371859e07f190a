"""The Content-Security-Policy breaks nothing: every main page, for every role, loads in
Chromium without a single CSP violation or console error, htmx and bookwell.js run
(the finder's live partial swaps in), and a form that asks first (data-confirm, no
inline handler) still asks."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from app.demo_seed import DOMAIN
from tests.e2e.pages import new_page, signed_in

PAGES = {
    None: ["/", "/book", "/auth/login", "/auth/register"],
    "patient": ["/", "/appointments", "/profile", "/book"],
    "fischer": ["/provider/", "/provider/?view=week", "/provider/hours", "/provider/insights"],
    "frontdesk": ["/frontdesk/", "/frontdesk/day", "/frontdesk/book"],
    "admin": ["/admin/", "/admin/providers", "/admin/appointment-types/new", "/admin/settings"],
}


def watch(page) -> list[str]:
    """Collect console errors and CSP violation reports of `page` (and every page it loads)."""
    problems: list[str] = []

    def on_console(message):
        where = (message.location or {}).get("url", "")
        if message.type == "error" and not where.endswith("/favicon.ico"):  # the browser's own guess
            problems.append(f"console {message.type}: {message.text} ({where})")

    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.add_init_script("""
        document.addEventListener("securitypolicyviolation", function (event) {
            console.error("CSP violation: " + event.violatedDirective + " " + event.blockedURI);
        });
    """)
    return problems


@pytest.mark.parametrize("role", list(PAGES), ids=lambda role: role or "anonymous")
def test_main_pages_load_without_csp_violations(browser, live_server, role):
    context = browser.new_context(base_url=live_server, viewport={"width": 1280, "height": 900},
                                  timezone_id="Europe/Berlin")
    try:
        page = new_page(context)
        problems = watch(page)
        if role:
            signed_in(page, f"{role}@{DOMAIN}")
        for path in PAGES[role]:
            answer = page.goto(path)
            assert answer.status == 200, path
            assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
            page.wait_for_load_state("networkidle")
            assert page.evaluate("typeof window.htmx") == "object", path  # the vendored htmx ran
        assert problems == []
    finally:
        context.close()


def test_the_finder_swaps_its_results_with_htmx_under_the_policy(browser, live_server):
    context = browser.new_context(base_url=live_server, viewport={"width": 1280, "height": 900},
                                  timezone_id="Europe/Berlin")
    try:
        page = new_page(context)
        problems = watch(page)
        page.goto("/book")
        page.wait_for_load_state("networkidle")
        with page.expect_response(lambda r: "/book" in r.url and r.request.headers.get("hx-request") == "true"):
            page.locator("#finder select").first.select_option(index=1)
        expect(page.locator("#results")).to_be_visible()
        assert problems == []
    finally:
        context.close()


def test_a_cancel_form_still_asks_before_it_cancels(browser, live_server):
    context = browser.new_context(base_url=live_server, viewport={"width": 1280, "height": 900},
                                  timezone_id="Europe/Berlin")
    try:
        page = new_page(context)
        problems = watch(page)
        signed_in(page, f"patient@{DOMAIN}")
        page.goto("/appointments")
        asked: list[str] = []

        def decline(dialog):
            asked.append(dialog.message)
            dialog.dismiss()

        page.on("dialog", decline)
        cancel = page.locator("form[data-confirm] button[type=submit]").first
        expect(cancel).to_be_visible()
        cancel.click()
        assert asked == ["Cancel this appointment?"]
        expect(page).to_have_url(f"{live_server}/appointments")  # dismissed: nothing was sent
        assert problems == []
    finally:
        context.close()
