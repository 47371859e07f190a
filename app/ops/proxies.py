"""The client's address behind reverse proxies (TRUSTED_PROXIES, Werkzeug ProxyFix).

With TRUSTED_PROXIES=N the app trusts the last N entries of X-Forwarded-For (and
X-Forwarded-Proto/Host/Port/Prefix from as many hops), so `request.remote_addr`,
the scheme and host are the client's, as each proxy saw them. Set it to exactly the
number of proxies in front of the app: more lets clients forge their address (they
can prepend anything to X-Forwarded-For), fewer makes every client look like the
proxy. 0 (default) trusts no header: the app is reached directly.
"""
from __future__ import annotations

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix


def init_app(app: Flask) -> None:
    hops = int(app.config.get("TRUSTED_PROXIES") or 0)
    if hops < 0:
        raise ValueError("TRUSTED_PROXIES is the number of proxies in front of the app: 0 or more.")
    if hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops, x_prefix=hops)
