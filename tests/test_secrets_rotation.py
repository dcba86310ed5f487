"""One secret key, one rotation: `flask secrets rotate-key` re-encrypts every encrypted column of
every model (found by walking the models: a column added later is covered the day it is), in
batches, resumably, and fails while a value still needs a key that is not listed."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import create_engine, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from lti_app import crypto
from lti_app.alerts import recipients
from lti_app.alerts.models import AlertRecipient, Channel
from lti_app.canvas import connections
from lti_app.canvas.models import CanvasConnection
from lti_app.extensions import db
from lti_app.lti.models import Tenant

OLD, NEW = Fernet.generate_key().decode(), Fernet.generate_key().decode()


@pytest.fixture
def app_overrides() -> dict[str, object]:
    return {"SECRET_STORAGE_KEYS": [OLD], "WEBHOOK_ALLOWED_HOSTS": ["hooks.example.edu"]}


def test_every_stored_secret_is_rotated_and_the_old_key_can_go(app, tenant_ids, runner):
    tenant = db.session.get(Tenant, tenant_ids["dep-a"])
    connections.add_api_key("https://canvas.example.edu", "client", "client-secret")
    connections.connect(tenant, base_url="https://canvas.example.edu", account_id="1",
                        method="oauth", access_token="access", refresh_token="refresh",
                        connected_by="A")  # fmt: skip
    recipients.add_webhook(tenant.id, "https://hooks.example.edu/a", Channel.JSON, events=None,
                           locale="en", added_by="A")  # fmt: skip
    app.config["SECRET_STORAGE_KEYS"] = [NEW, OLD]
    result = runner.invoke(args=["secrets", "rotate-key"])
    assert result.exit_code == 0, result.output
    # A client secret, an access and a refresh token, a webhook's URL and signing secret.
    assert "Re-encrypted 5 value(s)" in result.output
    again = runner.invoke(args=["secrets", "rotate-key"])  # resumable: nothing left to do
    assert "Re-encrypted 0 value(s)" in again.output

    app.config["SECRET_STORAGE_KEYS"] = [NEW]  # the old key dropped: everything still opens
    db.session.expire_all()
    connection = db.session.scalars(select(CanvasConnection)).one()
    assert crypto.decrypt(connection.refresh_token_encrypted) == "refresh"
    hook = db.session.scalars(select(AlertRecipient)).one()
    assert crypto.decrypt(hook.url_encrypted) == "https://hooks.example.edu/a"


def test_it_refuses_to_finish_while_a_value_needs_a_key_not_listed(app, tenant_ids, runner):
    tenant = db.session.get(Tenant, tenant_ids["dep-a"])
    connections.connect(tenant, base_url="https://canvas.example.edu", account_id="1",
                        method="token", access_token="access", connected_by="A")  # fmt: skip
    app.config["SECRET_STORAGE_KEYS"] = [NEW]  # OLD dropped too soon
    result = runner.invoke(args=["secrets", "rotate-key"])
    assert result.exit_code != 0
    assert "open with no listed key (canvas_connection.access_token_encrypted #" in result.output


class _Base(DeclarativeBase):
    pass


class _Later(_Base):
    """A model added later, with an encrypted column of its own."""

    __tablename__ = "added_later"
    id: Mapped[int] = mapped_column(primary_key=True)
    password_encrypted: Mapped[str | None] = mapped_column()


def test_a_model_added_later_is_rotated_without_anyone_listing_it(app, tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'later.db'}")
    _Base.metadata.create_all(engine)
    with Session(engine) as session:
        session.add_all([_Later(password_encrypted=crypto.encrypt(f"p{n}")) for n in range(7)])
        session.add(_Later(password_encrypted=None))
        session.commit()
        app.config["SECRET_STORAGE_KEYS"] = [NEW, OLD]
        done = crypto.rotate_all(session, _Base.registry, batch=3)  # three batches and a bit
        assert (done.rotated, done.unreadable) == (7, [])
        app.config["SECRET_STORAGE_KEYS"] = [NEW]
        values = session.scalars(select(_Later.password_encrypted).order_by(_Later.id)).all()
        assert [crypto.decrypt(v) for v in values if v] == [f"p{n}" for n in range(7)]
    engine.dispose()
