"""Access rows: the kernel (health checks, login, accounts, home pages, administration, establishments)."""

from __future__ import annotations

from teleconsult.identity.model import Role
from tests.integration.access_columns import (
    ALL_ROLES,
    ANY,
    CARE_HOME,
    HALF,
    HOSPITAL,
    OTHER,
    OWN,
    TOTP,
    Column,
    action,
    page,
    public,
    second_factor_action,
    second_factor_page,
    sign_out,
)

ROWS: dict[str, dict[str, Column]] = {
    # Public: health checks, static files, the login form, the language switch.
    "root": {ANY: public(half=TOTP)},  # the handler itself sends a half-logged-in user to the code page
    "healthz": {ANY: public()},
    "readyz": {ANY: public()},
    "static": {ANY: public()},
    "login": {ANY: public()},
    "login.submit": {ANY: public()},
    "language": {ANY: public()},
    # Between the password and the second factor only.
    "login.second_factor": {ANY: second_factor_page()},
    "login.second_factor.submit": {ANY: second_factor_action()},
    # The half-logged-in expert already has a TOTP: the handler sends them to type their code instead.
    "login.enrol": {ANY: {**second_factor_page(), HALF: TOTP}},
    "login.enrol.submit": {ANY: second_factor_action()},
    # Any session.
    "logout": {ANY: sign_out()},
    "switch_user": {ANY: sign_out()},
    # Any fully logged-in user: their own account.
    "account": {ANY: page(*ALL_ROLES)},
    "api.me": {ANY: action(*ALL_ROLES)},
    "account.totp": {ANY: page(*ALL_ROLES)},
    "account.totp.submit": {ANY: action(*ALL_ROLES)},
    "account.password": {ANY: action(*ALL_ROLES)},
    # Home pages by role.
    "home.care_home": {ANY: page(*CARE_HOME)},
    "home.expert": {ANY: page(*HOSPITAL)},
    "home.coordination": {ANY: page(Role.COORDINATEUR)},
    # Administration.
    "admin.index": {ANY: page(Role.ADMIN)},
    "admin.establishments": {ANY: page(Role.ADMIN)},
    "admin.establishments.create": {ANY: action(Role.ADMIN)},
    "admin.departments.create": {ANY: action(Role.ADMIN)},
    "admin.conventions.create": {ANY: action(Role.ADMIN)},
    "admin.users": {ANY: page(Role.ADMIN)},
    "admin.users.create": {ANY: action(Role.ADMIN)},
    "admin.users.deactivate": {ANY: action(Role.ADMIN)},
    "admin.users.reset_second_factor": {ANY: action(Role.ADMIN)},
    # Establishments: everyone sees their own; only the admin sees the others, and care-home staff must
    # not even learn that another establishment exists.
    "establishment.view": {
        OWN: page(*ALL_ROLES),
        OTHER: page(Role.ADMIN, hidden=CARE_HOME),
    },
}
