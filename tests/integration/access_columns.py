"""Outcomes, principals and column builders for the access matrix (tests/integration/test_access_matrix.py).

The rows themselves live in ``tests/integration/access_rows/``, one module per package, so that each feature
writes its own rows; the matrix test merges them and refuses a route that has none.
"""

from __future__ import annotations

from collections.abc import Iterable

from teleconsult.identity.model import Role

# ------------------------------------------------------------------------------------------- outcomes

OK = "allowed"  # anything but a refusal: 200, a 303 elsewhere than the login, 400/409/422 for an empty form
LOGIN = "303 to /login?next="  # anonymous on a page: sent to log in
TOTP = "303 to /login/totp"  # password done, second factor pending, on a page: sent to type the code
UNAUTHORIZED = "401"
FORBIDDEN = "403"
HIDDEN = "404"

# ----------------------------------------------------------------------------------------- principals

ANONYMOUS = "anonymous"
HALF = "half-logged-in expert"  # password accepted, TOTP code not typed yet
PRINCIPALS: list[str] = [ANONYMOUS, HALF, *(role.value for role in Role)]

ALL_ROLES = tuple(Role)
CARE_HOME = (Role.IDE, Role.IDEC, Role.MEDECIN_CO)
HOSPITAL = (Role.EXPERT, Role.SECRETARIAT)

Column = dict[str, str]  # principal -> expected outcome


def _column(anonymous: str, half: str, allowed: Iterable[Role], hidden: Iterable[Role] = ()) -> Column:
    allowed, hidden = set(allowed), set(hidden)
    column = {ANONYMOUS: anonymous, HALF: half}
    for role in Role:
        column[role.value] = OK if role in allowed else HIDDEN if role in hidden else FORBIDDEN
    return column


def public(half: str = OK) -> Column:
    """Anyone, even anonymous."""
    return _column(OK, half, ALL_ROLES)


def second_factor_page() -> Column:
    """Only between the password and the second factor; a fully logged-in user has nothing to do there."""
    return _column(LOGIN, OK, ())


def second_factor_action() -> Column:
    return _column(UNAUTHORIZED, OK, ())


def sign_out() -> Column:
    """Any session, even half-way through login."""
    return _column(UNAUTHORIZED, OK, ALL_ROLES)


def page(*allowed: Role, hidden: Iterable[Role] = ()) -> Column:
    """A GET page for fully logged-in users."""
    return _column(LOGIN, TOTP, allowed, hidden)


def action(*allowed: Role) -> Column:
    """A POST (or an /api/ GET) for fully logged-in users: refusals are answered, never redirected."""
    return _column(UNAUTHORIZED, FORBIDDEN, allowed)


ANY = ""  # the route has a single case
OWN = "own establishment"
OTHER = "another establishment"
