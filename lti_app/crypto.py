"""Secrets at rest (Canvas tokens and client secrets, webhook URLs and signing secrets, and
whatever is added later), encrypted with Fernet (the cryptography library).

``SECRET_STORAGE_KEY`` (its first name ``CANVAS_TOKEN_KEY`` still works) holds one or more
Fernet keys separated by spaces or commas: the first encrypts, every one decrypts. To rotate,
put a new key first, run ``flask secrets rotate-key`` (every encrypted column of every model, a
batch at a time, resumable; it says so and fails while any value still needs an old key), then
drop the old one. An encrypted column is one whose name ends in ``_encrypted``: rotation finds
them by walking the models, so a new one is covered the day it is added.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import click
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import select, update

ENCRYPTED = "_encrypted"  # the ending of every encrypted column's name


class SecretUnreadable(RuntimeError):
    """A stored secret was encrypted with a key that is no longer in SECRET_STORAGE_KEY."""


def _keys() -> list[str]:
    keys = list(current_app.config["SECRET_STORAGE_KEYS"])
    if not keys:
        # Development and tests only (production refuses to start without the setting): a
        # key derived from SECRET_KEY, so `make run` works with nothing to configure.
        digest = hashlib.sha256(current_app.config["SECRET_KEY"].encode()).digest()
        keys = [base64.urlsafe_b64encode(digest).decode()]
    return keys


def _fernet() -> MultiFernet:
    return MultiFernet([Fernet(key) for key in _keys()])


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
        raise SecretUnreadable("no key of SECRET_STORAGE_KEY opens a stored secret") from exc


def encrypted_columns(registry: Any) -> list[tuple[Any, Any]]:
    """Every encrypted column of a registry's models, as (model, column attribute)."""
    found = []
    for mapper in registry.mappers:
        for column in mapper.columns:
            if column.key.endswith(ENCRYPTED) and column.table is mapper.local_table:
                found.append((mapper.class_, getattr(mapper.class_, column.key)))
    return found


@dataclass
class Rotation:
    """What a rotation did: values re-encrypted with the current key, and values no key opens
    (their models and ids: they need an old key back, or to be entered again)."""

    rotated: int = 0
    unreadable: list[str] = field(default_factory=list)


def rotate_all(session: Any, registry: Any, batch: int = 500) -> Rotation:
    """Re-encrypt every encrypted column of every model with the current key, ``batch`` rows a
    transaction (a rotation cut short goes on where it stopped: a value already under the
    current key is rotated again to the same key, harmlessly)."""
    current = Fernet(_keys()[0])
    done = Rotation()
    for model, column in encrypted_columns(registry):
        last = None
        while True:
            query = select(model.id, column).where(column.is_not(None)).order_by(model.id)
            if last is not None:
                query = query.where(model.id > last)
            rows = session.execute(query.limit(batch)).all()
            for row_id, value in rows:
                try:
                    current.decrypt(value.encode())
                    continue  # under the current key already
                except InvalidToken:
                    pass
                try:
                    fresh = rotate(value)
                except SecretUnreadable:
                    done.unreadable.append(f"{model.__tablename__}.{column.key} #{row_id}")
                    continue
                session.execute(update(model).where(model.id == row_id).values({column.key: fresh}))
                done.rotated += 1
            session.commit()
            if len(rows) < batch:
                break
            last = rows[-1][0]
    return done


secrets_cli = AppGroup("secrets", help="The secrets the tool keeps, encrypted at rest.")


@secrets_cli.command("rotate-key")
def rotate_key_command() -> None:
    """Re-encrypt every stored secret with the first key of SECRET_STORAGE_KEY; fails while
    any value still needs a key that is not listed (so the old key must not be dropped)."""
    from .extensions import Model, db  # the app's session (crypto itself needs none)

    done = rotate_all(db.session, Model.registry)
    click.echo(f"Re-encrypted {done.rotated} value(s) with the current key.")
    if done.unreadable:
        listed = ", ".join(done.unreadable[:20])
        raise click.ClickException(
            f"{len(done.unreadable)} value(s) open with no listed key ({listed}): keep the old "
            "key in SECRET_STORAGE_KEY (after the new one) and run this again."
        )
