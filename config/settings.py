"""Settings, read from the environment with safe defaults.

``APP_ENV`` picks the profile: ``development`` (the default: SQLite under ``instance/``, the
built-in ``/dev`` test platform), ``production`` (``SECRET_KEY`` required, no test platform,
secure cookies) or ``testing``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
INSTANCE_DIR = ROOT / "instance"

# Canvas serves every hosted institution from *.instructure.com; an institution on its own
# domain adds it with FRAME_ANCESTORS.
CANVAS_FRAME_ANCESTORS = "https://*.instructure.com"


class ConfigError(RuntimeError):
    """The environment does not describe a configuration the tool can run with."""


def database_url(value: str | None) -> str:
    """Return the SQLAlchemy URL for DATABASE_URL, defaulting to SQLite under instance/."""
    if not value:
        return f"sqlite:///{INSTANCE_DIR / 'sis_integration.db'}"
    # Hosting platforms hand out postgres:// URLs; SQLAlchemy needs the dialect and driver.
    for prefix in ("postgres://", "postgresql://"):
        if value.startswith(prefix):
            return "postgresql+psycopg://" + value[len(prefix) :]
    return value


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a whole number, not {raw!r}") from exc


def _choice(name: str, choices: tuple[str, ...]) -> str:
    """One of ``choices`` (the first by default)."""
    value = os.environ.get(name) or choices[0]
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}, not {value!r}")
    return value


def _flag(name: str) -> bool:
    return os.environ.get(name, "false").lower() in ("1", "true", "yes")


def load(overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Build the Flask config mapping from the environment, then apply ``overrides``."""
    env = (overrides or {}).get("APP_ENV") or os.environ.get("APP_ENV", "development")
    if env not in ("development", "production", "testing"):
        raise ConfigError(f"APP_ENV must be development, production or testing, not {env!r}")
    production = env == "production"

    secret = os.environ.get("SECRET_KEY")
    if not secret:
        if production:
            raise ConfigError("SECRET_KEY must be set when APP_ENV=production")
        secret = "development-only-secret-key-not-for-production"  # noqa: S105 (dev/test only)

    allowed_hosts = os.environ.get("REGISTRATION_ALLOWED_HOSTS", "*.instructure.com").split()
    if env == "development":
        # The /dev platform registers from the loopback names it is served on.
        allowed_hosts += ["127.0.0.1", "localhost"]

    # One key for every secret the tool keeps (Canvas tokens, webhook URLs…); its first name
    # was CANVAS_TOKEN_KEY, still read when SECRET_STORAGE_KEY is not set.
    storage_keys = os.environ.get("SECRET_STORAGE_KEY") or os.environ.get("CANVAS_TOKEN_KEY") or ""
    token_keys = storage_keys.replace(",", " ").split()
    if production and not token_keys:
        raise ConfigError(
            "SECRET_STORAGE_KEY must be set when APP_ENV=production (a Fernet key: "
            "python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key())')"
        )

    mail_server = os.environ.get("MAIL_SERVER", "")
    public_url = os.environ.get("PUBLIC_URL", "").rstrip("/")
    if production and mail_server and not public_url:
        raise ConfigError(
            "PUBLIC_URL must be set when MAIL_SERVER is (the tool's https address, for the "
            "unsubscribe link in every alert email)"
        )

    extra_ancestors = os.environ.get("FRAME_ANCESTORS", "").split()
    if env == "development":
        # The built-in test platform frames the tool from the other loopback name.
        extra_ancestors += ["http://127.0.0.1:*", "http://localhost:*"]
    config: dict[str, Any] = {
        "APP_ENV": env,
        "SECRET_KEY": secret,
        "SQLALCHEMY_DATABASE_URI": database_url(os.environ.get("DATABASE_URL")),
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        # How long a launch token in a link stays valid without use, and how long after the
        # Canvas launch any token for it is honoured at all.
        "LAUNCH_TOKEN_TTL": _int("LAUNCH_TOKEN_TTL", 3600),
        "LAUNCH_MAX_AGE": _int("LAUNCH_MAX_AGE", 8 * 3600),
        # How long an OIDC login may take before its state and nonce are forgotten.
        "LOGIN_STATE_TTL": _int("LOGIN_STATE_TTL", 600),
        "LTI_CLOCK_LEEWAY": _int("LTI_CLOCK_LEEWAY", 60),
        "LTI_MAX_ID_TOKEN_BYTES": _int("LTI_MAX_ID_TOKEN_BYTES", 64 * 1024),
        "JWKS_CACHE_SECONDS": _int("JWKS_CACHE_SECONDS", 600),
        "JWKS_TIMEOUT_SECONDS": _int("JWKS_TIMEOUT_SECONDS", 5),
        # A launch naming an unknown key id refetches the key set, at most this often.
        "JWKS_REFRESH_FLOOR_SECONDS": _int("JWKS_REFRESH_FLOOR_SECONDS", 10),
        # The SIS agent API: one JSON file of a job, and a whole request body, at most.
        "JOB_FILE_MAX_BYTES": _int("JOB_FILE_MAX_BYTES", 5 * 1024 * 1024),
        "MAX_CONTENT_LENGTH": _int("API_MAX_BODY_BYTES", 25 * 1024 * 1024),
        "FRAME_ANCESTORS": ["'self'", CANVAS_FRAME_ANCESTORS, *extra_ancestors],
        # How often an open Rostering tab checks on running syncs.
        "LIVE_STATUS_SECONDS": _int("LIVE_STATUS_SECONDS", 10),
        "DEV_PLATFORM": env == "development",
        "LOG_FORMAT": os.environ.get("LOG_FORMAT", "json" if production else "text"),
        "PREFERRED_URL_SCHEME": "https" if production else "http",
        "TRUSTED_PROXIES": _int("TRUSTED_PROXIES", 1 if production else 0),
        # LTI Dynamic Registration (/lti/register): which Canvases may register (host names,
        # "*." wildcards; a private or loopback address only when named exactly), whether a
        # new platform waits for `flask lti approve`, and the limits on what is fetched.
        "REGISTRATION_ALLOWED_HOSTS": allowed_hosts,
        "REGISTRATION_REQUIRES_APPROVAL": _flag("REGISTRATION_REQUIRES_APPROVAL"),
        "REGISTRATION_TIMEOUT_SECONDS": _int("REGISTRATION_TIMEOUT_SECONDS", 5),
        "REGISTRATION_MAX_BYTES": _int("REGISTRATION_MAX_BYTES", 256 * 1024),
        # Registration attempts per client address in ten minutes.
        "REGISTRATION_RATE_LIMIT": _int("REGISTRATION_RATE_LIMIT", 20),
        # Canvas's own SIS imports, mirrored (lti_app/canvas/). Keys encrypt stored tokens.
        "SECRET_STORAGE_KEYS": token_keys,
        # How often the worker asks Canvas: while an import runs, and otherwise.
        "CANVAS_POLL_ACTIVE_SECONDS": _int("CANVAS_POLL_ACTIVE_SECONDS", 60),
        "CANVAS_POLL_IDLE_SECONDS": _int("CANVAS_POLL_IDLE_SECONDS", 600),
        # A worker holds an institution this long without renewing it before another may take it.
        "CANVAS_LEASE_SECONDS": _int("CANVAS_LEASE_SECONDS", 300),
        "CANVAS_TIMEOUT_SECONDS": _int("CANVAS_TIMEOUT_SECONDS", 10),
        # Retries of one request (rate limits, 5xx, timeouts) before the poll gives up until the
        # next one, and the first backoff (doubling, with jitter).
        "CANVAS_MAX_ATTEMPTS": _int("CANVAS_MAX_ATTEMPTS", 5),
        "CANVAS_BACKOFF_SECONDS": float(os.environ.get("CANVAS_BACKOFF_SECONDS", "1")),
        # Below this X-Rate-Limit-Remaining, requests are spaced out (Canvas's bucket is ~700).
        "CANVAS_RATE_LIMIT_FLOOR": _int("CANVAS_RATE_LIMIT_FLOOR", 200),
        # Alerts (lti_app/alerts/). Email goes through the operator's SMTP server (Flask-Mail's
        # settings); without MAIL_SERVER only webhooks are offered.
        "MAIL_SERVER": mail_server,
        "MAIL_PORT": _int("MAIL_PORT", 25),
        "MAIL_USE_TLS": _flag("MAIL_USE_TLS"),
        "MAIL_USE_SSL": _flag("MAIL_USE_SSL"),
        "MAIL_USERNAME": os.environ.get("MAIL_USERNAME") or None,
        "MAIL_PASSWORD": os.environ.get("MAIL_PASSWORD") or None,
        "MAIL_DEFAULT_SENDER": os.environ.get(
            "MAIL_DEFAULT_SENDER", "SIS Integration <sis-integration@localhost>"
        ),
        "MAIL_MESSAGE_ID_DOMAIN": os.environ.get("MAIL_MESSAGE_ID_DOMAIN", "sis-integration"),
        # The tool's own address, for links in emails (the worker has no request to ask).
        "PUBLIC_URL": public_url,
        # Webhook hosts allowed (empty: any public host; a private or loopback one only when
        # named exactly), and how long one may take.
        "WEBHOOK_ALLOWED_HOSTS": os.environ.get("WEBHOOK_ALLOWED_HOSTS", "").split(),
        "WEBHOOK_TIMEOUT_SECONDS": _int("WEBHOOK_TIMEOUT_SECONDS", 5),
        # How long an alert is retried, the first wait (doubling), a worker's hold on a batch,
        # and how often the worker looks for new alerts.
        "ALERT_RETRY_HOURS": _int("ALERT_RETRY_HOURS", 24),
        "ALERT_BACKOFF_SECONDS": float(os.environ.get("ALERT_BACKOFF_SECONDS", "30")),
        "ALERT_LEASE_SECONDS": _int("ALERT_LEASE_SECONDS", 300),
        "ALERT_POLL_SECONDS": float(os.environ.get("ALERT_POLL_SECONDS", "1")),
        # One worker at a time turns job events into deliveries; it holds that task this long
        # without renewing it (each round renews it) before another worker may take it over.
        "ALERT_FAN_OUT_LEASE_SECONDS": _int("ALERT_FAN_OUT_LEASE_SECONDS", 30),
        # /metrics answers a scraper presenting this bearer token (none: no /metrics), and the
        # worker serves its own metrics and /healthz on this address and port (0: not at all).
        "METRICS_TOKEN": os.environ.get("METRICS_TOKEN", ""),
        "WORKER_METRICS_PORT": _int("WORKER_METRICS_PORT", 0),
        "WORKER_METRICS_HOST": os.environ.get("WORKER_METRICS_HOST", "127.0.0.1"),
        # The worker's supervision: a loop whose round failed waits (doubling from half a
        # second) at most this long before it tries again; a loop with no round done within
        # WORKER_STALE_SECONDS makes the worker's /healthz answer 503; a loop's thread that
        # ends is started again, but more than WORKER_MAX_RESTARTS times in an hour ends the
        # process (exit status 1) for its supervisor (systemd, Kubernetes) to restart.
        "WORKER_RETRY_MAX_SECONDS": float(os.environ.get("WORKER_RETRY_MAX_SECONDS", "3")),
        "WORKER_STALE_SECONDS": float(os.environ.get("WORKER_STALE_SECONDS", "300")),
        "WORKER_MAX_RESTARTS": _int("WORKER_MAX_RESTARTS", 5),
        # A sync the change guard holds ends Failed when no admin decides within this.
        "HOLD_EXPIRES_HOURS": _int("HOLD_EXPIRES_HOURS", 24),
        # A sync In Progress with no change for this long shows "No progress" and is alerted
        # (each institution may set its own beside the change guard).
        "STUCK_AFTER_MINUTES": _int("STUCK_AFTER_MINUTES", 180),
        # Undo and stop (lti_app/canvas/actions.py): how often the worker follows Canvas's
        # Progress of an undo, and how long it retries Canvas's 5xx, 429 and timeouts.
        "CANVAS_ACTION_POLL_SECONDS": float(os.environ.get("CANVAS_ACTION_POLL_SECONDS", "3")),
        "CANVAS_ACTION_RETRY_MINUTES": _int("CANVAS_ACTION_RETRY_MINUTES", 60),
        # Launches whose Canvas SIS permissions are unknown (the field absent or unexpanded):
        # "roles" lets account admins act as before, "require" makes them look-only.
        "CANVAS_PERMISSIONS": _choice("CANVAS_PERMISSIONS", ("roles", "require")),
        # How long each institution's activity trail is kept, whatever its history is kept.
        "ACTIVITY_KEEP_DAYS": _int("ACTIVITY_KEEP_DAYS", 730),
        # The most years of history any institution keeps (unset: as long as its admins say).
        "HISTORY_MAX_YEARS": _int("HISTORY_MAX_YEARS", 0) or None,
    }
    config.update(overrides or {})
    if production:
        # The built-in test platform signs launches with a key anyone can read; never in production.
        config["DEV_PLATFORM"] = False
    return config
