"""SMS adapters: a file adapter (default; texts land in instance/sms/) and a
Twilio-style HTTP adapter configured by SMS_API_URL, SMS_ACCOUNT_SID,
SMS_AUTH_TOKEN and SMS_FROM."""
from __future__ import annotations

import base64
import json
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from flask import current_app

from app.notifications.email import PermanentError, TransientError


def send(to: str, body: str, message_id: str) -> str:
    if current_app.config["SMS_BACKEND"] == "http":
        return _send_http(to, body)
    folder = Path(current_app.instance_path) / "sms"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{message_id}.txt").write_text(f"To: {to}\n\n{body}\n")
    return f"file:{message_id}"


def _send_http(to: str, body: str) -> str:
    config = current_app.config
    url = f"{config['SMS_API_URL'].rstrip('/')}/2010-04-01/Accounts/{config['SMS_ACCOUNT_SID']}/Messages.json"
    data = urllib.parse.urlencode({"To": to, "From": config["SMS_FROM"], "Body": body}).encode()
    auth = base64.b64encode(f"{config['SMS_ACCOUNT_SID']}:{config['SMS_AUTH_TOKEN']}".encode()).decode()
    request = urllib.request.Request(url, data=data, headers={"Authorization": f"Basic {auth}"})
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return json.loads(response.read())["sid"]
    except urllib.error.HTTPError as exc:
        if exc.code in (429,) or exc.code >= 500:
            raise TransientError(f"SMS API {exc.code}") from exc
        raise PermanentError(f"SMS API {exc.code}") from exc
    except (urllib.error.URLError, OSError, KeyError, ValueError) as exc:
        raise TransientError(f"SMS API: {exc}") from exc
