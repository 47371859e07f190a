"""caldav releases after 2.2.1 pull in niquests, whose urllib3-future replaces urllib3 under
requests (and so under everything else that speaks HTTP here). Keep it out."""
from __future__ import annotations

import importlib.metadata
import importlib.util

import urllib3


def test_urllib3_future_is_not_installed():
    assert importlib.util.find_spec("urllib3_future") is None
    try:
        importlib.metadata.distribution("urllib3-future")
    except importlib.metadata.PackageNotFoundError:
        pass
    else:
        raise AssertionError("urllib3-future is installed: pin caldav to a release that uses requests")
    assert importlib.metadata.distribution("urllib3").read_text("RECORD") is not None
    assert "future" not in urllib3.__file__


def test_caldav_is_on_requests():
    requirements = importlib.metadata.requires("caldav") or []
    assert any(r.startswith("requests") for r in requirements)
    assert not any(r.startswith("niquests") for r in requirements)
