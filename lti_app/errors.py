"""The one place where refusals and faults become pages: HTML for people, JSON for the API.

Nobody ever sees a stack trace; the reason goes to the log instead.
"""

from __future__ import annotations

import logging

from flask import Flask, g, jsonify, render_template, request
from flask_babel import gettext
from sqlalchemy.exc import (
    DataError,
    DBAPIError,
    InterfaceError,
    OperationalError,
    SQLAlchemyError,
)
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from . import activity
from .extensions import db
from .lti.errors import (
    AwaitingApproval,
    LaunchExpired,
    LaunchRefused,
    NotAnAdmin,
    NotPermitted,
    PlatformUnreachable,
    RegistrationRefused,
)

log = logging.getLogger("lti_app.errors")


def _wants_json() -> bool:
    if request.path.startswith("/api/"):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


def error_response(
    status: int, title: str, message: str, problems: list[dict[str, str]] | None = None
) -> tuple[Response | str, int]:
    """An error as a page (or JSON for API callers) with a plain sentence."""
    if _wants_json():
        return jsonify({"error": title, "message": message, "problems": problems or []}), status
    return render_template("error.html", status=status, title=title, message=message), status


def register(app: Flask) -> None:
    """Install the error handlers."""

    @app.errorhandler(LaunchRefused)
    def launch_refused(exc: LaunchRefused) -> tuple[Response | str, int]:
        log.warning("launch refused: %s", exc.reason)
        return error_response(
            400,
            gettext("Launch not verified"),
            gettext("This launch could not be verified. Open SIS Integration again from Canvas."),
        )

    @app.errorhandler(NotAnAdmin)
    def not_an_admin(exc: NotAnAdmin) -> tuple[Response | str, int]:
        log.info("launch refused, not an account admin: %s", exc)
        return error_response(
            403,
            gettext("For account administrators"),
            gettext(
                "SIS Integration is for account administrators. Your Canvas role in this account "
                "does not include administrator access; if you need to see rostering sync "
                "history, ask your Canvas administrator."
            ),
        )

    @app.errorhandler(NotPermitted)
    def not_permitted(exc: NotPermitted) -> tuple[Response | str, int]:
        log.warning("refused %s to %s: %s", request.endpoint, g.launch.user_id, exc.sentence)
        db.session.rollback()  # whatever the view had begun: a refusal changes nothing
        activity.denied(g.launch.tenant_id, request.endpoint or exc.action)
        return error_response(
            403,
            gettext("Not permitted"),
            gettext(
                "Your Canvas permissions do not include this. %(needs)s.",
                needs=gettext(exc.sentence),
            ),
        )

    @app.errorhandler(AwaitingApproval)
    def awaiting_approval(exc: AwaitingApproval) -> tuple[Response | str, int]:
        log.info("launch held: %s", exc)
        return error_response(
            403,
            gettext("Waiting for approval"),
            gettext(
                "SIS Integration was installed in this Canvas and is waiting for its operator's "
                "approval. Please try again once your SIS Integration administrator has "
                "approved it."
            ),
        )

    @app.errorhandler(RegistrationRefused)
    def registration_refused(exc: RegistrationRefused) -> tuple[Response | str, int]:
        rollback_quietly()
        log.warning("dynamic registration refused: %s", exc.message)
        # In English, as the operator who reads the allowlist and Canvas's answer will.
        return error_response(exc.status, "SIS Integration was not installed", exc.message)

    @app.errorhandler(LaunchExpired)
    def launch_expired(exc: LaunchExpired) -> tuple[Response | str, int]:
        log.info("launch token refused: %s", exc)
        return error_response(
            401,
            gettext("Session ended"),
            gettext("This page has expired. Open SIS Integration again from Canvas."),
        )

    @app.errorhandler(PlatformUnreachable)
    def platform_unreachable(exc: PlatformUnreachable) -> tuple[Response | str, int]:
        log.error("platform unreachable during launch: %s", exc)
        return error_response(
            503,
            gettext("Canvas could not be reached"),
            gettext(
                "SIS Integration could not reach Canvas to verify this launch. "
                "Please try again in a minute."
            ),
        )

    @app.errorhandler(DBAPIError)
    def database_error(exc: DBAPIError) -> tuple[Response | str, int]:
        """Classified, not guessed: a value the database refused is the request's fault
        (422); a lost or unreachable database is 503; anything else is our fault (500)."""
        rollback_quietly()
        if isinstance(exc, DataError):
            log.warning("database refused a value: %s", exc.orig.__class__.__name__)
            return error_response(
                422,
                gettext("Unprocessable Entity"),
                gettext(
                    "A value could not be stored: it is out of range or not text the database "
                    "accepts."
                ),
                [{"field": "body", "message": _first_line(exc.orig or exc)}],
            )
        if exc.connection_invalidated or isinstance(exc, OperationalError | InterfaceError):
            log.error("database unavailable: %s", exc.orig.__class__.__name__)
            return error_response(
                503,
                gettext("Temporarily unavailable"),
                gettext(
                    "SIS Integration can't reach its database right now. "
                    "Please try again in a minute."
                ),
            )
        return _unexpected(exc)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> tuple[Response | str, int]:
        status = exc.code or 500
        messages = {
            404: gettext("That page or job was not found."),
            405: gettext("That action is not allowed here."),
            413: gettext("That request is too large."),
        }
        titles = {
            400: gettext("Bad Request"),
            404: gettext("Not Found"),
            405: gettext("Method Not Allowed"),
            413: gettext("Request Entity Too Large"),
        }
        return error_response(
            status,
            titles.get(status, exc.name),
            messages.get(status, exc.description or exc.name),
        )

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> tuple[Response | str, int]:
        rollback_quietly()
        return _unexpected(exc)

    @app.teardown_appcontext
    def end_session(_: BaseException | None) -> None:
        """Give the request's connection back before Flask-SQLAlchemy does (teardowns run
        last-registered first). If the database dropped the connection after the answer was
        made, the rollback fails here: logged once, and the answer stands."""
        try:
            db.session.remove()
        except SQLAlchemyError as exc:
            log.warning("database connection lost after the response: %s", type(exc).__name__)
            # Close the dead connection outright (invalidate), rather than leave it for the
            # garbage collector to find still open.
            try:
                db.session().invalidate()
            finally:
                db.session.registry.clear()


def rollback_quietly() -> None:
    """Roll the request's session back; when the connection has just died, log it and drop
    the connection (an error handler must never fail because the database went away)."""
    try:
        db.session.rollback()
    except SQLAlchemyError as exc:
        log.warning("rollback failed: %s", type(exc).__name__)
        db.session().invalidate()


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0][:300]


def _unexpected(exc: Exception) -> tuple[Response | str, int]:
    log.error("unhandled error (request %s)", g.get("request_id", "-"), exc_info=exc)
    return error_response(
        500,
        gettext("Something went wrong"),
        gettext(
            "SIS Integration hit an unexpected error. Please try again; if it keeps happening, "
            "give your administrator this request id: %(id)s.",
            id=g.get("request_id", "-"),
        ),
    )
