"""Property-based launches (Hypothesis): id_token claim sets that are missing, mistyped, huge,
unicode or nested, each signed with the platform's real key. Whatever they hold, the answer is
a 4xx with a plain page, never a 5xx, and no launch is recorded for them."""

from __future__ import annotations

import json
from typing import Any

import jwt
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from lti_app.extensions import db
from lti_app.lti.models import Launch
from tests.support.fuzz import FUZZ_EXAMPLES

CLAIM = "https://purl.imsglobal.org/spec/lti/claim/"
# The claims a launch reads, by the name it reads them with.
NAMES = [
    "iss", "aud", "azp", "sub", "exp", "iat", "nonce", "name", "given_name", "family_name",
    CLAIM + "message_type", CLAIM + "version", CLAIM + "deployment_id", CLAIM + "roles",
    CLAIM + "custom", CLAIM + "context", CLAIM + "resource_link", CLAIM + "tool_platform",
    CLAIM + "target_link_uri", CLAIM + "launch_presentation",
]  # fmt: skip

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
    | st.text(min_size=5000, max_size=6000, alphabet="é\u202e\U0001f600a"),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
# Each claim kept, dropped, or replaced by any JSON value; at least one changed.
changes = st.dictionaries(
    st.sampled_from(NAMES), st.one_of(st.just(None), json_values), min_size=1, max_size=5
)


@settings(max_examples=FUZZ_EXAMPLES * 6, deadline=None, suppress_health_check=list(HealthCheck))
@given(changes=changes)
def test_any_claim_set_signed_with_the_real_key_is_a_4xx_page(launcher, registered, changes):
    login = launcher.login("dep-a")
    claims: dict[str, Any] = registered.claims(nonce=login.nonce, deployment_id="dep-a")
    for name, value in changes.items():
        if value is None:
            claims.pop(name, None)
        else:
            claims[name] = value
    launches_before = db.session.scalar(select(func.count()).select_from(Launch))
    # Signed as raw JSON: a claims-checking encoder would refuse the very sets under test.
    token = jwt.PyJWS().encode(
        json.dumps(claims).encode(),
        registered.key.private,
        algorithm="RS256",
        headers={"kid": registered.key.kid},
    )
    response = launcher.post(token, login.state)
    assert response.status_code < 500, response.get_data(as_text=True)[:500]
    if response.status_code >= 400:
        page = response.get_data(as_text=True)
        assert "Traceback" not in page and "<html" in page
        assert db.session.scalar(select(func.count()).select_from(Launch)) == launches_before
