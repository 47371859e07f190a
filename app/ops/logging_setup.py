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
        from flask import request

        app.logger.info("%s %s -> %s", request.method, request.path, response.status_code)
        return response
