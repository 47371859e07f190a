"""A day at the edge of the calendar in a page's address is a day like any bad one: the page
shows its default day, never a 500 (invariant 5). Before one parser (app/web/dates.py) did it,
`/book?date=9999-12-31` and `/provider/?date=0001-01-01` overflowed the pages' week and strip
arithmetic."""
from __future__ import annotations

import pytest

from tests.integration.helpers import login

DOMAIN = "riverside.example"

EDGES = ("9999-12-31", "9999-12-30", "0001-01-01", "3000-01-01", "1970-12-31")
PAGES = [
    (None, "/book"),
    (f"patient@{DOMAIN}", "/book"),
    (f"weber@{DOMAIN}", "/provider/"),
    (f"weber@{DOMAIN}", "/provider/?view=week"),
    (f"frontdesk@{DOMAIN}", "/frontdesk/day"),
    (f"frontdesk@{DOMAIN}", "/frontdesk/book"),
]


@pytest.mark.parametrize("who,page", PAGES)
def test_a_day_at_the_edge_of_the_calendar_falls_back_to_the_default_day(client, demo, who, page):
    if who is not None:
        assert login(client, who).status_code in (302, 303)
    default = client.get(page)
    assert default.status_code in (200, 302), page
    for day in EDGES:
        joined = "&" if "?" in page else "?"
        response = client.get(f"{page}{joined}date={day}")
        assert response.status_code == default.status_code, (page, day, response.status_code)
