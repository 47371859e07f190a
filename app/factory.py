"""The application factory: `create_app(config=None, **overrides)` builds a configured Flask app."""
from __future__ import annotations

import logging
import secrets
from pathlib import Path
from typing import Any

from dotenv import load_dotenv
from flask import Flask

from app import config as config_module
from app import crypto
from app.extensions import csrf, db, login_manager, migrate, sock

ROOT = config_module.ROOT


def create_app(config: dict[str, Any] | object | None = None, **overrides: Any) -> Flask:
    load_dotenv(ROOT / ".env", override=False)
    settings = {**config_module.from_environment(), **config_module.FIXED}
    if config is not None:
        settings.update(config if isinstance(config, dict) else _upper_attrs(config))
    settings.update(overrides)

    instance = Path(settings["INSTANCE_PATH"])
    instance.mkdir(parents=True, exist_ok=True)
    app = Flask(
        __name__,
        instance_path=str(instance),
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    app.config.update(settings)
    if not app.config["SECRET_KEY"]:
        app.config["SECRET_KEY"] = _local_secret(instance)
    crypto.configure(app.config["ENCRYPTION_KEY"] or app.config["SECRET_KEY"])

    from app.ops import input_guard, logging_setup, proxies, request_id, security_headers

    proxies.init_app(app)  # before anything reads request.remote_addr

    # First, so every later hook (CSRF included) and every log line has the id.
    request_id.init_app(app)
    input_guard.init_app(app)
    logging_setup.configure(app)
    _init_redis_url(app)
    _init_database(app)
    login_manager.init_app(app)
    csrf.init_app(app)
    sock.init_app(app)
    _register_blueprints(app)
    from app import tenancy
    from app.ops import rate_limits

    tenancy.init_app(app)

    rate_limits.init_app(app)
    _register_cli(app)
    from app.api import errors as api_errors
    from app.web import errors, templating

    errors.init_app(app)
    api_errors.init_app(app)
    templating.init_app(app)
    security_headers.init_app(app)
    return app


def _upper_attrs(obj: object) -> dict[str, Any]:
    return {k: getattr(obj, k) for k in dir(obj) if k.isupper()}


def _local_secret(instance: Path) -> str:
    """A random key persisted under instance/, shared by every local process.

    Production sets SECRET_KEY; this keeps the two-command set-up safe without
    shipping a known key.
    """
    path = instance / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


def _init_redis_url(app: Flask) -> None:
    if not app.config["REDIS_URL"]:
        from app import embedded_redis

        app.config["REDIS_URL"] = embedded_redis.ensure_running(app.instance_path)
        app.config["REDIS_EMBEDDED"] = True


def _init_database(app: Flask) -> None:
    from app.availability import triggers  # noqa: F401 - registers the slot-refresh session hooks
    from app.patients import phone_index  # noqa: F401 - registers the blind-index session hook
    from app.database import configure_engine

    uri = app.config["SQLALCHEMY_DATABASE_URI"]
    if uri.startswith("postgres://"):  # the form many hosts hand out
        uri = app.config["SQLALCHEMY_DATABASE_URI"] = "postgresql+psycopg://" + uri[len("postgres://"):]
    elif uri.startswith("postgresql://"):
        uri = app.config["SQLALCHEMY_DATABASE_URI"] = "postgresql+psycopg://" + uri[len("postgresql://"):]
    options = dict(app.config.get("SQLALCHEMY_ENGINE_OPTIONS", {}))
    if uri.startswith("sqlite"):
        options.setdefault("connect_args", {})["check_same_thread"] = False
    else:
        options.setdefault("pool_pre_ping", True)
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = options
    db.init_app(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"), render_as_batch=uri.startswith("sqlite"))
    with app.app_context():
        configure_engine(db.engine, app.config["SQLITE_BUSY_TIMEOUT_MS"], app.config["WRITERS_PER_PROCESS"])


def _register_blueprints(app: Flask) -> None:
    from app.realtime import ws  # noqa: F401 - registers the /ws route on `sock`
    from app.api import admin_v1, api_v1
    from app.api.openapi import bp as openapi_bp
    from app.ops.health import bp as ops_bp
    from app.ops.metrics import bp as metrics_bp
    from app.web.admin import bp as admin_bp
    from app.web.auth import bp as auth_bp
    from app.web.frontdesk import bp as frontdesk_bp
    from app.web.patient import bp as patient_bp
    from app.web.provider import bp as provider_bp
    from app.web.staff import bp as staff_bp

    ws.init_app(app)  # /ws refuses other sites' Origin
    app.register_blueprint(ops_bp)
    app.register_blueprint(metrics_bp)
    app.register_blueprint(openapi_bp)
    app.register_blueprint(api_v1, url_prefix="/api/v1")
    app.register_blueprint(admin_v1, url_prefix="/api/admin/v1")
    app.register_blueprint(auth_bp, url_prefix="/auth")
    app.register_blueprint(patient_bp)
    app.register_blueprint(provider_bp, url_prefix="/provider")
    app.register_blueprint(frontdesk_bp, url_prefix="/frontdesk")
    app.register_blueprint(admin_bp, url_prefix="/admin")
    from app.calendars.feed_routes import bp as calendar_feed_bp

    app.register_blueprint(calendar_feed_bp)
    app.register_blueprint(staff_bp, url_prefix="/staff")


def _register_cli(app: Flask) -> None:
    from app.cli import availability, demo, organizations, patients, users, worker

    app.cli.add_command(availability.availability_cli)
    app.cli.add_command(organizations.organizations_cli)
    app.cli.add_command(users.users_cli)
    app.cli.add_command(demo.demo_cli)
    app.cli.add_command(worker.worker_cli)
    app.cli.add_command(patients.patients_cli)


logging.getLogger("app").addHandler(logging.NullHandler())
