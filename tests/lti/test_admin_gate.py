"""Only account administrators get in; everyone else is refused politely."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from lti_app.extensions import db
from lti_app.lti.models import Launch
from lti_app.lti.roles import is_account_admin

REFUSAL = "SIS Integration is for account administrators."


@pytest.mark.parametrize(
    ("persona", "admitted"),
    [
        ("admin", True),
        ("site_admin", True),
        ("admin_unresolved", True),
        ("other_branch_admin", False),
        ("teacher", False),
        ("ta", False),
        ("student", False),
        ("observer", False),
        ("no_roles", False),
    ],
)
def test_role_matrix(launcher, client, persona, admitted):
    response = launcher.launch("dep-a", persona=persona)
    if admitted:
        assert response.status_code == 303
        assert client.get(response.location).status_code == 200
    else:
        assert response.status_code == 403
        html = response.get_data(as_text=True)
        assert REFUSAL in html
        assert "Traceback" not in html
        assert db.session.scalar(select(func.count()).select_from(Launch)) == 0


def test_refusal_is_json_for_json_clients(launcher, registered):
    login = launcher.login("dep-a")
    token = registered.sign(
        registered.claims(nonce=login.nonce, deployment_id="dep-a", persona="student")
    )
    response = launcher.client.post(
        "/lti/launch",
        data={"id_token": token, "state": login.state},
        headers={"Accept": "application/json"},
    )
    assert response.status_code == 403
    assert response.json["message"].startswith(REFUSAL)


@pytest.mark.parametrize(
    ("membership", "admitted"),
    [
        (None, True),
        ("Account Admin", True),
        ("Registrar Admin,TeacherEnrollment", True),
        ("", False),
        ("TeacherEnrollment,StudentEnrollment", False),
        (" , ", False),
    ],
)
def test_institution_admin_needs_an_admin_role_in_the_launched_account(membership, admitted):
    roles = ["http://purl.imsglobal.org/vocab/lis/v2/institution/person#Administrator"]
    assert is_account_admin(roles, membership) is admitted


def test_instructor_role_alone_is_not_admin():
    roles = [
        "http://purl.imsglobal.org/vocab/lis/v2/institution/person#Instructor",
        "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor",
    ]
    assert not is_account_admin(roles, None)
