"""Which role may open which audience area: one table, every role against every home."""
from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from app.accounts import find_user_by_email
from tests.integration.helpers import page_text, sign_in_as

DOMAIN = "riverside.example"
EMAILS = {
    "patient": f"patient@{DOMAIN}",
    "provider": f"weber@{DOMAIN}",
    "frontdesk": f"frontdesk@{DOMAIN}",
    "manager": f"manager@{DOMAIN}",
    "admin": f"admin@{DOMAIN}",
}
SIGN_IN = "sign-in"  # expected Location: the sign-in page, coming back here afterwards


@pytest.mark.parametrize(
    ("role", "url", "status", "location"),
    [
        ("anonymous", "/", 200, None),  # the public portal start page
        ("anonymous", "/appointments", 302, SIGN_IN),  # own appointments need an account
        ("anonymous", "/provider/", 302, SIGN_IN),  # staff areas send strangers to sign in
        ("anonymous", "/frontdesk/", 302, SIGN_IN),  # same for the front desk
        ("anonymous", "/admin/", 302, SIGN_IN),  # same for the clinic admin
        ("patient", "/", 200, None),  # the patient's own start page
        ("patient", "/appointments", 200, None),  # the patient's appointment list
        ("patient", "/provider/", 403, None),  # a patient is not a clinician
        ("patient", "/frontdesk/", 403, None),  # nor front-desk staff
        ("patient", "/admin/", 403, None),  # nor an administrator
        ("provider", "/", 302, "/provider/"),  # the portal start page forwards to the agenda
        ("provider", "/appointments", 403, None),  # the patient list is for patients only
        ("provider", "/provider/", 200, None),  # the clinician's own agenda
        ("provider", "/frontdesk/", 403, None),  # clinicians do not run the front desk
        ("provider", "/admin/", 403, None),  # nor administer the clinic
        ("frontdesk", "/", 302, "/frontdesk/"),  # forwarded to the front desk
        ("frontdesk", "/appointments", 403, None),  # the patient list is for patients only
        ("frontdesk", "/provider/", 403, None),  # front desk has no agenda of its own
        ("frontdesk", "/frontdesk/", 200, None),  # the approval queue
        ("frontdesk", "/admin/", 403, None),  # no clinic administration
        ("manager", "/", 302, "/admin/"),  # forwarded to the clinic overview
        ("manager", "/appointments", 403, None),  # the patient list is for patients only
        ("manager", "/provider/", 403, None),  # a manager is not a clinician
        ("manager", "/frontdesk/", 200, None),  # managers may work the front desk
        ("manager", "/admin/", 200, None),  # and run the clinic
        ("admin", "/", 302, "/admin/"),  # forwarded to the clinic overview
        ("admin", "/appointments", 403, None),  # the patient list is for patients only
        ("admin", "/provider/", 403, None),  # an admin is not a clinician
        ("admin", "/frontdesk/", 200, None),  # admins may work the front desk
        ("admin", "/admin/", 200, None),  # and run the clinic
    ],
)
def test_each_role_opens_only_its_own_areas(app, client, demo, role, url, status, location):
    if role != "anonymous":
        with app.app_context():
            sign_in_as(client, find_user_by_email(EMAILS[role]))

    response = client.get(url)

    assert response.status_code == status
    if location == SIGN_IN:
        target = urlsplit(response.headers["Location"])
        assert target.path == "/auth/login"
        assert parse_qs(target.query) == {"next": [url]}
    elif location is not None:
        assert response.headers["Location"] == location
    if status == 403:
        assert response.mimetype == "text/html"
        assert "You don't have access to this page" in page_text(response)
        as_json = client.get(url, headers={"Accept": "application/json"})
        assert as_json.status_code == 403
        assert as_json.is_json
        assert as_json.json["error"]["code"] == "FORBIDDEN"
        assert as_json.json["error"]["message"] == "You don't have access to this page"
