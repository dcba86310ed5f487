"""The LTI boundary: OIDC login, launch, JWKS, Canvas configuration, registrations and roles."""

from flask import Blueprint

bp = Blueprint("lti", __name__, url_prefix="/lti")

from . import cli, views  # noqa: E402,F401  (routes and commands register on import)
