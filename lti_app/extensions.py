"""Extensions created once at import time and bound to the app in ``create_app``."""

from __future__ import annotations

import contextlib
import functools
import inspect
from collections import namedtuple
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import (
    ColumnElement,
    CursorResult,
    DateTime,
    Dialect,
    Engine,
    MetaData,
    Result,
    delete,
    event,
    select,
)
from sqlalchemy import inspect as inspect_mapped
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapper
from sqlalchemy.types import TypeDecorator

from .timeutil import as_utc

# Named constraints keep migrations identical on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)
# What every model subclasses: Flask-SQLAlchemy's db.Model, which a type checker cannot take
# as a base class (it is a value); as the declarative Base it is, to mypy.
if TYPE_CHECKING:
    Model = Base
else:
    Model = db.Model
migrate = Migrate(render_as_batch=True)

F = TypeVar("F", bound=Callable[..., Any])
M = TypeVar("M")


class Records(Generic[M]):
    """Rows of a model read as records, without the ORM: the ``columns`` to select (its
    table's, in its attributes' order, ``without`` those a page does not show) and, from a
    row's slice of them, a read-only record that reads as the model does (those columns, its
    properties and methods; no relationships, nothing to write). Loading an entity costs the
    ORM several times what reading its row does; a page that only shows what it reads has no
    use for the difference."""

    def __init__(self, model: type[M], without: tuple[str, ...] = ()) -> None:
        mapper: Mapper[M] = inspect_mapped(model)
        attrs = [attr for attr in mapper.column_attrs if attr.key not in without]
        self.columns: list[ColumnElement[Any]] = [attr.columns[0] for attr in attrs]
        self._key = self.columns.index(mapper.primary_key[0])
        own = {  # its properties and public methods, which read its columns
            name: value
            for name, value in vars(model).items()
            if isinstance(value, property) or (inspect.isfunction(value) and name[0] != "_")
        }
        # The record's class is made here, from the model's mapping: mypy types only a
        # named tuple whose name and fields are written out.
        named = namedtuple(model.__name__, [attr.key for attr in attrs])  # type: ignore[misc]
        record: Any = type(f"{model.__name__}Record", (named,), own)
        self._make = record._make

    def of(self, values: Sequence[Any]) -> M | None:
        """The record of ``values`` (a row's slice of ``columns``); None for an outer join's
        empty side."""
        return None if values[self._key] is None else cast(M, self._make(values))


def rowcount(result: Result[Any]) -> int:
    """How many rows an UPDATE or DELETE run through the session changed (its result is a
    CursorResult, which SQLAlchemy's types do not say of ``Session.execute``)."""
    return cast(CursorResult[Any], result).rowcount


def reads_only(view: F) -> F:
    """Run a view that only reads outside a transaction (autocommit), from its first query
    until it returns, on PostgreSQL.

    On PostgreSQL, in READ COMMITTED, each statement sees its own snapshot whether or not a
    transaction surrounds it, so the transaction bought nothing but a BEGIN and a ROLLBACK:
    two of the round trips a page and the live check used to pay. And psycopg forgets every
    statement it has prepared on the connection at each ROLLBACK (it sends DEALLOCATE ALL):
    one read ended by a rollback cost the next views on that connection their prepared
    statements and PostgreSQL's generic plans, so the views that only read are marked: the
    tab's pages and windows, the agent API's GETs, /healthz (which a load balancer asks every
    few seconds) and /metrics.

    SQLite's driver only begins a transaction before a write, so its reads never had one; and
    there switching the isolation level costs: the pool puts the connection back with
    ``PRAGMA read_uncommitted``, which expires every statement the connection has prepared,
    so the next request on it prepared each of its statements again (the state's took
    0.22 ms prepared, 0.77 ms not). Put it outside ``require_launch`` or ``require_token``,
    whose lookup is the view's first query.
    """

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        # A transaction already begun (an app context the caller pushed, as a test or a
        # command does) is left as it is; a request's own session starts without one.
        session = db.session()
        if session.in_transaction() or session.get_bind().dialect.name == "sqlite":
            return view(*args, **kwargs)
        session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
        try:
            return view(*args, **kwargs)
        finally:
            # The connection goes back with its isolation restored, so that a session which
            # outlives the request (a test's, a command's) writes in a transaction after it.
            # Closing expires nothing: what the view read is still there for the hooks after
            # it. A connection lost meanwhile is the teardown's to report.
            transaction = session.get_transaction()
            if transaction is not None:
                with contextlib.suppress(SQLAlchemyError):
                    transaction.close()

    return cast(F, wrapper)


def in_autocommit() -> bool:
    """Whether the request's session reads outside a transaction (``reads_only``), where
    whatever it writes is written as it runs."""
    options = db.session.connection().get_execution_options()
    return bool(options.get("isolation_level") == "AUTOCOMMIT")


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware.

    SQLite keeps no zone, PostgreSQL does; this makes both hand back the same aware value.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are ambiguous; pass an aware UTC datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else as_utc(value)


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection: Any, connection_record: Any) -> None:
    """SQLite, set up for a web app: enforce foreign keys (so deleting a tenant removes its
    history), write-ahead logging (readers never wait for a writer; commits don't fsync the
    whole file), and a 16 MB page cache (bounded: a long CSV download stays flat)."""
    if type(dbapi_connection).__module__ != "sqlite3":
        return
    cursor = dbapi_connection.cursor()
    for pragma in (
        "foreign_keys = ON",
        "journal_mode = WAL",
        "synchronous = NORMAL",
        "cache_size = -16384",
        "busy_timeout = 10000",
    ):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def delete_in_batches(model: Any, *where: ColumnElement[bool], batch: int) -> int:
    """Delete the rows of ``model`` that ``where`` selects, at most ``batch`` a transaction
    (each committed), so that a large removal never holds a long transaction; how many."""
    removed = 0
    while True:
        ids = select(model.id).where(*where).limit(batch)
        gone = rowcount(db.session.execute(delete(model).where(model.id.in_(ids))))
        db.session.commit()
        if not gone:
            return removed
        removed += gone
