"""Platform key sets, fetched with bounded timeouts and cached per worker.

A key set is refetched when it is older than JWKS_CACHE_SECONDS, or when a launch names a key
id it does not hold (the platform rotated its keys) — at most once per JWKS_REFRESH_FLOOR_SECONDS,
so forged tokens with random key ids cannot make us hammer the platform.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import requests

from .errors import PlatformUnreachable

_lock = threading.Lock()
_cache: dict[str, tuple[float, dict[str, Any]]] = {}


def _fetch(url: str, timeout: float) -> dict[str, Any]:
    try:
        response = requests.get(url, timeout=timeout, headers={"Accept": "application/json"})
        response.raise_for_status()
        key_set = response.json()
    except (requests.RequestException, ValueError) as exc:
        raise PlatformUnreachable(f"key set {url} could not be fetched: {exc}") from exc
    if not isinstance(key_set, dict) or not isinstance(key_set.get("keys"), list):
        raise PlatformUnreachable(f"key set {url} is not a JSON Web Key Set")
    return key_set


def get(
    url: str, *, max_age: float, timeout: float, refresh_floor: float | None = None
) -> dict[str, Any]:
    """Return the key set at ``url``; with ``refresh_floor``, a fresh copy unless the cached one
    is younger than the floor."""
    now = time.monotonic()
    with _lock:
        cached = _cache.get(url)
    if cached is not None:
        age = now - cached[0]
        if age < max_age and not (refresh_floor is not None and age >= refresh_floor):
            return cached[1]
    key_set = _fetch(url, timeout)
    with _lock:
        _cache[url] = (time.monotonic(), key_set)
    return key_set


def clear() -> None:
    """Forget every cached key set."""
    with _lock:
        _cache.clear()
