"""The scheduling core is pure to import: no Flask, no SQLAlchemy, not even through
the package root (docs/architecture.md)."""
from __future__ import annotations

import subprocess
import sys


def test_importing_the_scheduling_core_loads_neither_flask_nor_sqlalchemy():
    code = ("import sys, app.scheduling, app.scheduling.engine, app.scheduling.exposure; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('flask', 'sqlalchemy', 'werkzeug')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]", result.stdout


def test_the_factory_is_still_reachable_from_the_package_root():
    from app import create_app
    from app.factory import create_app as factory

    assert create_app is factory
