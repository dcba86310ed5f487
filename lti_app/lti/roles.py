"""Who may use SIS Integration: account administrators, by their IMS role URIs.

PyLTI1p3's ``check_staff_access()`` is not used on purpose: it admits instructors and refuses
institution Administrators, the opposite of what an admin tool needs.
"""

from __future__ import annotations

from typing import Any

# Canvas sends this to account admins (of the root account or any sub-account).
INSTITUTION_ADMINISTRATOR = (
    "http://purl.imsglobal.org/vocab/lis/v2/institution/person#Administrator"
)
# Canvas sends this to site admins, who administer every account.
SYSTEM_ADMINISTRATOR = "http://purl.imsglobal.org/vocab/lis/v2/system/person#SysAdmin"


def account_role_names(membership_roles: str | None) -> list[str] | None:
    """The Canvas admin role names from ``$Canvas.membership.roles``; None when not provided.

    In an account context Canvas lists the user's admin roles in the launched account's chain
    ("Account Admin", custom names); enrollment types ("TeacherEnrollment") are not admin roles.
    """
    if membership_roles is None:
        return None
    names = [name.strip() for name in membership_roles.split(",")]
    return [name for name in names if name and not name.endswith("Enrollment")]


def is_account_admin(roles: Any, membership_roles: str | None) -> bool:
    """Whether a launch with these LTI roles may open the tool.

    Site admins always may. Institution Administrators may, unless Canvas resolved their
    membership in the launched account and it holds no admin role (an admin of another
    sub-account launching from this one).
    """
    if not isinstance(roles, list):
        return False
    if SYSTEM_ADMINISTRATOR in roles:
        return True
    if INSTITUTION_ADMINISTRATOR not in roles:
        return False
    admin_roles = account_role_names(membership_roles)
    return admin_roles is None or bool(admin_roles)
