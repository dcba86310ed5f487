"""Secrets at rest (Canvas tokens and client secrets, webhook URLs and signing secrets),
encrypted with Fernet (the cryptography library).

``CANVAS_TOKEN_KEY`` holds one or more Fernet keys separated by spaces or commas: the first
encrypts, every one decrypts. To rotate, put a new key first, run
``flask canvas rotate-key`` (re-encrypts every stored secret with it), then drop the old one.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import current_app


class SecretUnreadable(RuntimeError):
    """A stored secret was encrypted with a key that is no longer in CANVAS_TOKEN_KEY."""


def _fernet() -> MultiFernet:
    keys = current_app.config["CANVAS_TOKEN_KEYS"]
    if not keys:
        # Development and tests only (production refuses to start without the setting): a
        # key derived from SECRET_KEY, so `make run` works with nothing to configure.
        digest = hashlib.sha256(current_app.config["SECRET_KEY"].encode()).digest()
        keys = [base64.urlsafe_b64encode(digest).decode()]
    return MultiFernet([Fernet(key) for key in keys])


def encrypt(secret: str) -> str:
    """The secret, encrypted with the current key."""
    return _fernet().encrypt(secret.encode()).decode()


def decrypt(token: str) -> str:
    """The secret a stored value holds; ``SecretUnreadable`` when no configured key opens it."""
    return _open(_fernet().decrypt, token)


def rotate(token: str) -> str:
    """A stored value re-encrypted with the current key."""
    return _open(_fernet().rotate, token)


def _open(action: Callable[[bytes], bytes], token: str) -> str:
    try:
        return action(token.encode()).decode()
    except InvalidToken as exc:
        raise SecretUnreadable("a stored secret cannot be decrypted with CANVAS_TOKEN_KEY") from exc
