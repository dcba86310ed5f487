"""SIS Integration: an LTI 1.3 tool that shows Canvas admins their SIS rostering sync history."""

from __future__ import annotations

from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from config import settings
from config.settings import ROOT

from . import i18n
from .alerts.channels import mail
from .extensions import db, migrate


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the app from the environment, with ``test_config`` overriding settings."""
    app = Flask(
        __name__,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
        instance_path=str(settings.INSTANCE_DIR),
    )
    app.config.from_mapping(settings.load(test_config))
    settings.INSTANCE_DIR.mkdir(exist_ok=True)

    if app.config["TRUSTED_PROXIES"]:
        # Behind a TLS-terminating proxy: trust its X-Forwarded-Proto/Host for absolute URLs.
        hops = app.config["TRUSTED_PROXIES"]
        # Wrapping wsgi_app is how Flask documents middleware; its type says it is a method.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]

    db.init_app(app)
    mail.init_app(app)
    i18n.init_app(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"))

    from . import errors, metrics, observability, security, tab  # noqa: F401 (tab: its routes)
    from .activity.cli import activity_cli
    from .alerts import bp as alerts_bp
    from .alerts.cli import alerts_cli
    from .api import bp as api_bp
    from .api.cli import api_token_cli
    from .canvas import bp as canvas_bp
    from .canvas.cli import canvas_cli
    from .commands import history_cli, schedule_cli
    from .crypto import secrets_cli
    from .lti import bp as lti_bp
    from .lti.cli import lti_cli
    from .lti.tokens import tool_url
    from .tab import bp as rostering_bp
    from .tab.templating import register_filters
    from .worker import canvas_worker_command, worker_command

    app.register_blueprint(lti_bp)
    app.register_blueprint(rostering_bp)
    app.register_blueprint(api_bp)
    app.register_blueprint(canvas_bp)
    app.register_blueprint(alerts_bp)
    if app.config["DEV_PLATFORM"]:
        from .dev.demo import demo_cli
        from .dev.mail import bp as devmail_bp
        from .dev.mail import mailbox_cli
        from .dev.platform import bp as dev_bp

        app.register_blueprint(dev_bp)
        app.register_blueprint(devmail_bp)
        app.cli.add_command(mailbox_cli)
        app.cli.add_command(demo_cli)
    app.cli.add_command(lti_cli)
    app.cli.add_command(api_token_cli)
    canvas_cli.add_command(canvas_worker_command)  # the worker's loop, kept under its old name
    app.cli.add_command(canvas_cli)
    app.cli.add_command(alerts_cli)
    app.cli.add_command(worker_command)
    app.cli.add_command(history_cli)
    app.cli.add_command(schedule_cli)
    app.cli.add_command(activity_cli)
    app.cli.add_command(secrets_cli)
    observability.register(app)
    metrics.register(app)
    errors.register(app)
    security.register(app)
    register_filters(app)
    app.jinja_env.globals["tool_url"] = tool_url
    return app
