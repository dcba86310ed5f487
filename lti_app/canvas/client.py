"""Canvas's REST API through canvasapi, with the patience canvasapi leaves to its callers.

canvasapi signs requests, turns Canvas's error answers into exceptions, unwraps
``{"sis_imports": [...]}`` and follows ``Link: rel="next"`` pages. It has no timeouts, retries or
rate-limit pacing; those are here: every request has a timeout, requests are spaced out when
Canvas's ``X-Rate-Limit-Remaining`` runs low, rate-limit answers (Canvas sends 403 "Rate Limit
Exceeded"; 429 from proxies in front of it), 5xx answers and timeouts are retried with
exponential backoff and jitter, and then the poll gives up until its next turn.
"""

from __future__ import annotations

import functools
import json
import logging
import random
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import requests
from canvasapi.exceptions import (
    BadRequest,
    CanvasException,
    Forbidden,
    InvalidAccessToken,
    RateLimitExceeded,
    ResourceDoesNotExist,
    Unauthorized,
)
from canvasapi.paginated_list import PaginatedList
from canvasapi.requester import Requester

from ..i18n import N_

log = logging.getLogger(__name__)
# canvasapi logs every request and, at debug level, every answer's body: our own lines say
# what matters (and no answer body reaches a log).
logging.getLogger("canvasapi").setLevel(logging.WARNING)
T = TypeVar("T")
PAGE = 100  # imports a page: Canvas's largest per_page


class CanvasError(Exception):
    """Canvas could not be read this time; the message is a plain sentence for admins."""


class TokenRejected(CanvasError):
    """Canvas answered 401: the token is revoked, expired or was never valid."""


class ScopeMissing(CanvasError):
    """Canvas answered 401 "Insufficient scopes on access token.": the token is good, but was
    granted without the scope of what was asked (a connection made before the tool asked for
    it). Canvas sends no ``WWW-Authenticate`` then, which is how canvasapi tells it from a bad
    token (``Unauthorized``, not ``InvalidAccessToken``)."""


class AccountRefused(CanvasError):
    """Canvas refused the account's SIS imports (a sub-account, SIS disabled, no permission)."""


class CanvasUnavailable(CanvasError):
    """Canvas kept failing (5xx, timeouts, rate limits) through every retry."""


class NotPermitted(CanvasError):
    """Canvas answered "user not authorized to perform that action" (401, or 403 on Canvases
    with its newer auth errors): the user whose token this is lacks the permission."""


class ActionRefused(CanvasError):
    """Canvas refused an action with a message of its own (a 400's plain text, a 403's
    errors): the message is Canvas's."""


class NotFound(CanvasError):
    """Canvas answered 404: no such import (or, for abort, none in a state to stop)."""


class _RawImport:
    """A SIS import exactly as Canvas sent it (canvasapi's objects rewrite dates)."""

    def __init__(self, requester: Requester, attributes: dict[str, Any]) -> None:
        self.data = attributes


class _Session(requests.Session):
    """canvasapi's HTTP session with a timeout on every request, pacing, and a count."""

    def __init__(self, client: CanvasClient) -> None:
        super().__init__()
        self._client = client

    def request(self, method: str, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("timeout", self._client.timeout)
        self._client.pace()
        self._client.requests += 1
        response = super().request(method, url, *args, **kwargs)
        self._client.observe(response.headers.get("X-Rate-Limit-Remaining"))
        return response


class CanvasClient:
    """One institution's root account, read with one user token."""

    def __init__(
        self,
        base_url: str,
        access_token: str,
        account_id: str,
        *,
        config: dict[str, Any],
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.account_id = account_id or "self"
        self.timeout = config["CANVAS_TIMEOUT_SECONDS"]
        self.max_attempts = max(1, config["CANVAS_MAX_ATTEMPTS"])
        self.backoff = config["CANVAS_BACKOFF_SECONDS"]
        self.rate_floor = config["CANVAS_RATE_LIMIT_FLOOR"]
        self.sleep = sleep
        self.requests = 0
        self.slept = 0.0
        self._pause = 0.0
        self._requester = Requester(base_url.rstrip("/"), access_token)
        # canvasapi keeps its requests.Session here; ours adds the timeout and the count.
        self._requester._session = _Session(self)

    def observe(self, remaining: str | None) -> None:
        """Space the next request out when Canvas's rate-limit bucket runs low."""
        try:
            left = float(remaining) if remaining is not None else None
        except ValueError:
            left = None
        if left is None or left >= self.rate_floor:
            self._pause = 0.0
        else:
            self._pause = self.backoff * 2 * (1 - max(left, 0) / self.rate_floor)

    def pace(self) -> None:
        """Before a request: wait as long as the last answer's bucket asks."""
        self._wait(self._pause)

    def _wait(self, seconds: float) -> None:
        if seconds > 0:
            self.slept += seconds
            self.sleep(seconds)

    def _call(
        self,
        action: Callable[[], T],
        refused: Callable[[CanvasException], CanvasError] | None = None,
    ) -> T:
        """Run one request with pacing and retries; raise a ``CanvasError`` when it fails.
        ``refused`` names what Canvas's refusals (401, 400, 403, 404) mean for this request;
        by default, those of reading an account's imports."""
        for attempt in range(1, self.max_attempts + 1):
            try:
                return action()
            except RateLimitExceeded as exc:
                reason: Exception = exc
            except Forbidden as exc:
                if "Rate Limit Exceeded" not in str(exc):
                    raise (refused or _reading_refused)(exc) from exc
                reason = exc
            except (Unauthorized, InvalidAccessToken, BadRequest, ResourceDoesNotExist) as exc:
                raise (refused or _reading_refused)(exc) from exc
            except (CanvasException, requests.RequestException, ValueError) as exc:
                # 5xx and other answers, timeouts, refused connections, bodies that are not JSON.
                reason = exc
            delay = self.backoff * 2 ** (attempt - 1) * (0.5 + random.random())  # noqa: S311
            log.warning(
                "Canvas request failed (attempt %d of %d): %s", attempt, self.max_attempts, reason
            )
            if attempt < self.max_attempts:
                self._wait(delay)
        raise CanvasUnavailable(N_("Canvas did not answer; the next poll tries again."))

    def import_pages(self, **params: Any) -> Iterator[list[dict[str, Any]]]:
        """The account's SIS imports, newest first, a page (``PAGE``) at a time."""
        imports = PaginatedList(
            _RawImport,
            self._requester,
            "GET",
            f"accounts/{self.account_id}/sis_imports",
            _root="sis_imports",
            per_page=PAGE,
            **params,
        )
        page: list[dict[str, Any]] = []
        index = 0
        while True:
            try:
                # Indexing fetches the next page when needed; a retried failure asks for the
                # same page again (canvasapi moves on only after a page arrived).
                item = self._call(functools.partial(imports.__getitem__, index))
            except IndexError:
                break
            page.append(item.data)
            index += 1
            if len(page) == PAGE:
                yield page
                page = []
        if page:
            yield page

    def get_import(self, import_id: int) -> dict[str, Any]:
        """One SIS import by its id, as Canvas sent it."""
        path = f"accounts/{self.account_id}/sis_imports/{int(import_id)}"
        return self._call(lambda: self._requester.request("GET", path).json())

    def error_page(
        self, import_id: int, *, failure: bool, url: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """A page of an import's error rows (the SIS Import Errors API; with ``failure``, only
        the rows that failed the import) and the next page's address: ``url`` when going on
        from a page already read, else the first page. Canvas's ``Link`` addresses are
        followed only on the Canvas the token belongs to."""
        if url is None:
            path = f"accounts/{self.account_id}/sis_imports/{int(import_id)}/errors"
            params: list[tuple[str, Any]] = [("per_page", PAGE)]
            if failure:
                params.append(("failure", True))
            response = self._call(lambda: self._requester.request("GET", path, _kwargs=params))
        else:
            response = self._call(lambda: self._requester.request("GET", _url=url))
        try:
            body = response.json()
        except ValueError:
            raise CanvasUnavailable(N_("Canvas's answer was not JSON.")) from None
        rows = body.get("sis_import_errors") if isinstance(body, dict) else body
        following = response.links.get("next", {}).get("url")
        if following and not following.startswith(self._requester.base_url):
            log.warning("Canvas's next page is on another host; the read stops here")
            following = None
        return [row for row in rows or [] if isinstance(row, dict)], following

    # --- acting on imports (undo and stop) ----------------------------------------------------

    def _put(self, path: str, params: list[tuple[str, str]]) -> Any:
        return self._call(
            lambda: self._requester.request("PUT", path, _kwargs=params).json(), _acting_refused
        )

    def restore_states(
        self, import_id: int, *, batch_mode: bool, undelete_only: bool, unconclude_only: bool
    ) -> dict[str, Any]:
        """Undo an import (``restore_states``), sending only the flags that are set; Canvas's
        Progress of the restore."""
        flags = [
            (name, "true")
            for name, on in (
                ("batch_mode", batch_mode),
                ("undelete_only", undelete_only),
                ("unconclude_only", unconclude_only),
            )
            if on
        ]
        path = f"accounts/{self.account_id}/sis_imports/{int(import_id)}/restore_states"
        return dict(self._put(path, flags))

    def abort(self, import_id: int) -> dict[str, Any]:
        """Stop a running or queued import; the import as Canvas now has it."""
        return dict(self._put(f"accounts/{self.account_id}/sis_imports/{int(import_id)}/abort", []))

    def abort_all_pending(self) -> dict[str, Any]:
        """Stop every queued import of the account (running ones go on): ``{"aborted": true}``."""
        return dict(self._put(f"accounts/{self.account_id}/sis_imports/abort_all_pending", []))

    def progress(self, progress_id: int) -> dict[str, Any]:
        """A Progress (``GET /api/v1/progress/:id``)."""
        path = f"progress/{int(progress_id)}"
        return dict(
            self._call(lambda: self._requester.request("GET", path).json(), _acting_refused)
        )


def _scope_missing(exc: CanvasException) -> bool:
    return "insufficient scopes" in str(exc).lower()


def _reading_refused(exc: CanvasException) -> CanvasError:
    """What a refusal means while reading the account's imports."""
    if isinstance(exc, Unauthorized) and _scope_missing(exc):
        return ScopeMissing(N_("Canvas did not grant this connection the scope asked for."))
    if isinstance(exc, Unauthorized | InvalidAccessToken):
        return TokenRejected(N_("Canvas no longer accepts the token."))
    if isinstance(exc, BadRequest):
        return AccountRefused(
            N_(
                "Canvas refused to list SIS imports for this account (is it a sub-account, "
                "or is SIS import disabled?)."
            )
        )
    if isinstance(exc, ResourceDoesNotExist):
        return AccountRefused(N_("Canvas does not know this account."))
    return AccountRefused(
        N_(
            "Canvas does not let this connection read the account's SIS imports: connect with "
            "an admin of the root account, and check that SIS imports are enabled."
        )
    )


def _acting_refused(exc: CanvasException) -> CanvasError:
    """What a refusal means while undoing or stopping an import: Canvas's own words where it
    gives them (restore_states's 400 is plain text, not JSON)."""
    text = _canvas_words(exc)
    if isinstance(exc, Unauthorized) and _scope_missing(exc):
        return ScopeMissing(N_("Canvas did not grant this connection the scope asked for."))
    if isinstance(exc, InvalidAccessToken):
        return TokenRejected(N_("Canvas no longer accepts the token."))
    if isinstance(exc, Unauthorized) or "not authorized" in text.lower():
        return NotPermitted(text)
    if isinstance(exc, ResourceDoesNotExist):
        return NotFound(text)
    return ActionRefused(text)


def _canvas_words(exc: CanvasException) -> str:
    """The message of Canvas's error: canvasapi keeps a JSON body's ``errors`` (``[{"message":
    …}]`` or ``["…"]``) and a text body as it came (restore_states's 400 is plain text)."""
    message: Any = getattr(exc, "message", str(exc))
    if isinstance(message, str):
        try:
            message = json.loads(message).get("errors", message)
        except (ValueError, AttributeError):
            return message.strip()[:500]
    if isinstance(message, list) and message:
        first = message[0]
        return str(first.get("message", first) if isinstance(first, dict) else first)[:500]
    return str(message)[:500]
