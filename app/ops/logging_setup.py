"""Logs that carry the request id and never carry an email address or phone number."""
from __future__ import annotations

import logging
import re

from flask import Flask, g, has_request_context

_EMAIL = re.compile(r"([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9.-]+\.[A-Za-z]{2,})")
# International numbers (how Bookwell stores them) and long bare digit runs;
# dates, times and IP addresses stay readable.
_PHONE = re.compile(r"\+\d[\d \-()]{6,}\d|\b\d{9,}\b")


def mask_personal_data(text: str) -> str:
    text = _EMAIL.sub(r"\1***@\2", text)
    return _PHONE.sub(lambda m: "***" + re.sub(r"\D", "", m.group())[-2:], text)


class RequestContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = g.get("request_id", "-") if has_request_context() else "-"
        message = record.getMessage()
        masked = mask_personal_data(message)
        if masked != message:
            record.msg, record.args = masked, ()
        return True


FORMAT = "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"


def configure(app: Flask) -> None:
    root = logging.getLogger()
    if not any(getattr(h, "_bookwell", False) for h in root.handlers):
        handler = logging.StreamHandler()
        handler._bookwell = True
        handler.setFormatter(logging.Formatter(FORMAT))
        handler.addFilter(RequestContextFilter())
        root.addHandler(handler)
    root.setLevel(app.config.get("LOG_LEVEL", "INFO"))

    @app.after_request
    def _access_log(response):
        app.logger.info("%s %s -> %s", *_logged_request(), response.status_code)
        return response


def _logged_request() -> tuple[str, str]:
    """Method and path for the log line: never the query (searches carry names, emails, phone
    numbers) and never a link's secret (`/auth/reset/<token>`, `/manage/<token>`, the feed's
    `<token>.ics`): whoever reads the logs could act with it."""
    from flask import request

    path = request.path
    for name, value in (request.view_args or {}).items():
        if "token" in name and isinstance(value, str) and value:
            path = path.replace(value, "[token]")
    return request.method, path
