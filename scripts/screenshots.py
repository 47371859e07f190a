"""Screenshot every page as each demo user, desktop and phone width.

Usage: python scripts/screenshots.py BASE_URL OUT_DIR
(The app must be running with the demo seeded.)
"""
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.e2e.browser import launch_chromium  # noqa: E402

PAGES = {
    None: ["/", "/auth/login", "/auth/register", "/does-not-exist"],
    "patient@riverside.example": ["/", "/appointments", "/admin/"],
    "weber@riverside.example": ["/provider/"],
    "frontdesk@riverside.example": ["/frontdesk/"],
    "admin@riverside.example": ["/admin/"],
}
SIZES = {"desktop": (1280, 900), "phone": (390, 844)}


def main(base: str, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = launch_chromium(pw)
        for size_name, (width, height) in SIZES.items():
            for email, paths in PAGES.items():
                context = browser.new_context(viewport={"width": width, "height": height})
                page = context.new_page()
                if email:
                    page.goto(base + "/auth/login")
                    page.fill("input[name=email]", email)
                    page.fill("input[name=password]", "bookwell-demo")
                    page.click("button[type=submit]")
                    page.wait_for_load_state()
                for path in paths:
                    page.goto(base + path)
                    who = (email or "anon").split("@")[0]
                    name = f"{size_name}-{who}-{path.strip('/').replace('/', '_') or 'home'}.png"
                    page.screenshot(path=str(out / name), full_page=True)
                    print(out / name)
                context.close()
        browser.close()


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]))
