"""What the tool declares about itself to Canvas: one source for the developer key JSON
(``/lti/config.json``) and the Dynamic Registration request, so both always say the same."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import url_for

TITLE = "SIS Integration"
DESCRIPTION = (
    "Rostering sync history between your Student Information System and Canvas: schedule, "
    "jobs, change details and CSV download."
)
PLACEMENT = "account_navigation"
CANVAS_PLACEMENT_URI = "https://canvas.instructure.com/lti/account_navigation"
PRIVACY_LEVEL = "public"  # the admin's name is shown as the one who asked for a sync
RESOURCE_LINK = "LtiResourceLinkRequest"
# What the launch asks Canvas to fill in (Canvas's variable expansions).
CUSTOM_FIELDS = {
    "canvas_account_id": "$Canvas.account.id",
    "canvas_account_name": "$Canvas.account.name",
    "canvas_membership_roles": "$Canvas.membership.roles",
    "user_timezone": "$Person.address.timezone",
    # Where Canvas's REST API is and the root account that holds the SIS imports.
    "canvas_api_base_url": "$Canvas.api.baseUrl",
    "canvas_root_account_id": "$Canvas.rootAccount.id",
    # The admin's high-contrast setting in Canvas: the pages follow it.
    "canvas_user_prefers_high_contrast": "$Canvas.user.prefersHighContrast",
    # The admin's Canvas SIS permissions: what they may do here (lti/permissions.py). No spaces
    # in the list: Canvas splits it on "," and does not trim.
    "canvas_sis_permissions": "$Canvas.membership.permissions<import_sis,manage_sis,read_sis>",
    # The real user when an admin acts as someone else: the activity trail names them.
    "canvas_masquerading_user_id": "$Canvas.masqueradingUser.id",
}
# The admin's email prefills the Alerts section's address (Canvas sends it at the public
# privacy level).
CLAIMS = ("sub", "name", "given_name", "family_name", "email", "locale")


def _urls() -> dict[str, str]:
    return {
        "login": url_for("lti.login", _external=True),
        "launch": url_for("lti.launch", _external=True),
        "jwks": url_for("lti.jwks", _external=True),
    }


def canvas_developer_key() -> dict[str, Any]:
    """The Canvas developer key JSON ("Enter URL"), with absolute URLs for this host."""
    urls = _urls()
    placement = {
        "placement": PLACEMENT,
        "message_type": RESOURCE_LINK,
        "text": TITLE,
        "target_link_uri": urls["launch"],
        "enabled": True,
        "custom_fields": CUSTOM_FIELDS,
    }
    return {
        "title": TITLE,
        "description": DESCRIPTION,
        "oidc_initiation_url": urls["login"],
        "target_link_uri": urls["launch"],
        "public_jwk_url": urls["jwks"],
        "scopes": [],
        "custom_fields": CUSTOM_FIELDS,
        "extensions": [
            {
                "platform": "canvas.instructure.com",
                "domain": urlsplit(urls["launch"]).netloc,
                "tool_id": "sis-integration",
                "privacy_level": PRIVACY_LEVEL,
                "settings": {"text": TITLE, "placements": [placement]},
            }
        ],
    }


def registration_request(placement: str = CANVAS_PLACEMENT_URI) -> dict[str, Any]:
    """The LTI Dynamic Registration request body. ``placement`` is Account Navigation named
    as the platform's configuration names it (Canvas lists the full URI; it accepts both)."""
    urls = _urls()
    return {
        "application_type": "web",
        "response_types": ["id_token"],
        "grant_types": ["implicit", "client_credentials"],
        "initiate_login_uri": urls["login"],
        "redirect_uris": [urls["launch"]],
        "jwks_uri": urls["jwks"],
        "client_name": TITLE,
        "token_endpoint_auth_method": "private_key_jwt",
        "scope": "",
        "https://purl.imsglobal.org/spec/lti-tool-configuration": {
            "domain": urlsplit(urls["launch"]).netloc,
            "description": DESCRIPTION,
            "target_link_uri": urls["launch"],
            "claims": list(CLAIMS),
            "custom_parameters": CUSTOM_FIELDS,
            "messages": [
                {
                    "type": RESOURCE_LINK,
                    "target_link_uri": urls["launch"],
                    "label": TITLE,
                    "placements": [placement],
                }
            ],
            # Canvas's own field: who the launch shows (name and email) to the tool.
            "https://canvas.instructure.com/lti/privacy_level": PRIVACY_LEVEL,
        },
    }
