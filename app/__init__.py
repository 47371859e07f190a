"""Bookwell: appointment booking for clinics.

The package root imports nothing, so the pure scheduling core (`app.scheduling`)
loads without Flask or SQLAlchemy. The application factory lives in
`app/factory.py`; `from app import create_app` still works and loads it on first use.
"""
from __future__ import annotations

from typing import Any

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from app.factory import create_app

        return create_app
    raise AttributeError(f"module 'app' has no attribute {name!r}")
