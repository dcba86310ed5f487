"""What the tool remembers about platforms, deployments (tenants), keys and launches."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import Model, UTCDateTime
from ..timeutil import utcnow


class Platform(Model):
    """A registered LTI platform: one Canvas developer key (issuer + client_id)."""

    __tablename__ = "lti_platform"
    __table_args__ = (UniqueConstraint("issuer", "client_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    issuer: Mapped[str] = mapped_column(String(255))
    client_id: Mapped[str] = mapped_column(String(255))
    auth_login_url: Mapped[str] = mapped_column(String(1024))
    auth_token_url: Mapped[str] = mapped_column(String(1024))
    key_set_url: Mapped[str | None] = mapped_column(String(1024))
    # A platform JWKS given inline (PyLTI1p3 configs may carry one instead of a URL).
    key_set: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    auth_audience: Mapped[str | None] = mapped_column(String(1024))
    # How the platform was registered: "cli" (flask lti register/import) or "dynamic" (LTI
    # Dynamic Registration), and when it was last registered.
    registered_via: Mapped[str] = mapped_column(String(16), default="cli", server_default="cli")
    registered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # "pending" keeps launches out until an operator approves (REGISTRATION_REQUIRES_APPROVAL).
    status: Mapped[str] = mapped_column(String(16), default="active", server_default="active")
    # Registered without a deployment id: the first verified launch records its deployment.
    adopts_first_deployment: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    tenants: Mapped[list[Tenant]] = relationship(
        back_populates="platform", cascade="all, delete-orphan", order_by="Tenant.id"
    )

    def __repr__(self) -> str:
        return f"<Platform {self.issuer} client_id={self.client_id}>"


class Tenant(Model):
    """An institution: one LTI deployment of the tool on a platform.

    Everything the tool stores about rostering belongs to exactly one tenant.
    """

    __tablename__ = "tenant"
    __table_args__ = (UniqueConstraint("platform_id", "deployment_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    platform_id: Mapped[int] = mapped_column(ForeignKey("lti_platform.id", ondelete="CASCADE"))
    deployment_id: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(255), default="")
    # Kept by the job store as it adds jobs, so the pager never counts a long history.
    job_count: Mapped[int] = mapped_column(default=0, server_default="0")
    # Where this institution's Canvas REST API lives and its root account (SIS imports live
    # there), as the launch's custom fields report them.
    canvas_api_base_url: Mapped[str] = mapped_column(String(1024), default="", server_default="")
    canvas_root_account_id: Mapped[str] = mapped_column(String(64), default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    platform: Mapped[Platform] = relationship(back_populates="tenants")

    @property
    def display_name(self) -> str:
        """The institution's name, or its deployment when Canvas has not told us the name."""
        return self.name or f"Deployment {self.deployment_id}"


class ToolKey(Model):
    """One of the tool's RSA signing keys; retired keys leave the JWKS."""

    __tablename__ = "lti_tool_key"

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    private_key_pem: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class LoginRecord(Model):
    """Short-lived OIDC login data (state parameters, nonces), shared by every worker.

    PyLTI1p3 keeps these in the Flask session, a cookie that Canvas's iframe never gets back;
    here they live in the database, keyed by state or nonce, and a nonce is deleted when used.
    """

    __tablename__ = "lti_login_record"
    __table_args__ = (Index("ix_lti_login_record_expires_at", "expires_at"),)

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Launch(Model):
    """A verified admin launch: who launched, from which account, and until when it counts.

    Links in the tool carry a signed token naming this row instead of a session cookie.
    """

    __tablename__ = "lti_launch"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[str] = mapped_column(String(255))
    user_name: Mapped[str] = mapped_column(String(255), default="")
    # The admin's email address (the launch's email claim), if Canvas sent one.
    email: Mapped[str] = mapped_column(String(320), default="", server_default="")
    roles: Mapped[list[str]] = mapped_column(JSON, default=list)
    account_id: Mapped[str] = mapped_column(String(255), default="")
    account_name: Mapped[str] = mapped_column(String(255), default="")
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    # The admin's language (a catalog the tool has: en, es, fr, pt_BR) and contrast setting,
    # from the launch: every page after it keeps them.
    locale: Mapped[str] = mapped_column(String(16), default="en", server_default="en")
    high_contrast: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # The admin's SIS permissions in Canvas (``$Canvas.membership.permissions<…>``): the granted
    # subset of import_sis, manage_sis, read_sis, comma-separated, "" for none; None when the
    # launch did not carry the field (not Canvas, or a developer key made before it was asked).
    sis_permissions: Mapped[str | None] = mapped_column(String(64))
    # The real user's Canvas id when an admin acts as someone else
    # (``$Canvas.masqueradingUser.id``): what such a launch does is recorded as done by that
    # user, acting as the launch's.
    masquerading_user_id: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)

    tenant: Mapped[Tenant] = relationship()
