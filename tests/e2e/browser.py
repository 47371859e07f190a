"""Debian's Chromium driven by Playwright (no browser download: `executable_path`)."""
from __future__ import annotations

import os
import shutil

CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def chromium_path() -> str | None:
    for candidate in (os.environ.get("CHROMIUM_PATH"), "/usr/bin/chromium", shutil.which("chromium")):
        if candidate and os.path.exists(candidate):
            return candidate
    return None


def launch_chromium(playwright):
    path = chromium_path()
    if path is None:
        raise RuntimeError("Chromium not found; install Debian's `chromium` package")
    # Playwright gives each launch a fresh, empty profile directory itself.
    return playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS, headless=True)
