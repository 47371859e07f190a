"""The app the worker and cron processes build once, at start."""
from __future__ import annotations

from flask import Flask

_app: Flask | None = None


def get_app() -> Flask:
    global _app
    if _app is None:
        from app import create_app

        _app = create_app()
    return _app
