"""Invited participants on both backends: the IDEC invites the treating physician, the link is stored as a
hash and the name sealed; the guest's landing page uses nothing; joining uses the link once (a second use
is refused in French), gives a guest join token that the guest socket admits once; a revoked or expired
link is refused; outside the room's hours the link is refused and stays usable; a guest token is worth
nothing on the users' socket, nor a user's on the guests'. Every step is audited."""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from html import unescape

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select

from signalling.invitations_store import invitations
from signalling.model import JoinRefused, Seat
from signalling.tokens import JoinTokens
from teleconsult.identity.model import Role
from teleconsult.identity.policy import Action, Decision, GuestPrincipal, decide_guest
from teleconsult.keys import CALL_CONFIG
from tests.integration.conftest import Env
from tests.integration.test_scheduling import book, booking, setup
from tests.integration.test_signalling import (
    CONFIG_RE,
    audited,
    audited_at_least,
    closed_with,
    receive,
    ticket,
)

LINK_RE = re.compile(r'id="invite-link"[^>]*value="([^"]+)"')
NAME = "Docteur Invité Martin"


async def booked(env: Env) -> uuid.UUID:
    """An appointment on Tuesday 14:00 Paris; the clock (Monday) is before its room opens."""
    resident_id, expert_id = await setup(env)
    status, body = await book(env, booking(resident_id, expert_id))
    assert status == 201, body
    return uuid.UUID(body["id"])


def open_room(env: Env) -> None:
    env.clock.advance(timedelta(hours=23, minutes=20))  # Monday 13:30 UTC -> Tuesday 12:50 UTC


async def invite(env: Env, appointment_id: uuid.UUID, role: Role = Role.IDEC, **fields: str) -> str:
    """As ``role``, from the appointment page's form: the link's token."""
    await env.login(role)
    page = f"/appointments/{appointment_id}"
    response = await env.post_form(
        f"/appointments/{appointment_id}/invitations",
        {"role": "treating_physician", "name": NAME, **fields},
        page=page,
    )
    text = await response.text()  # type: ignore[attr-defined]
    assert response.status == 200, text[-3000:]  # type: ignore[attr-defined]
    match = LINK_RE.search(text)
    assert match, text[-3000:]
    link = unescape(match.group(1))
    assert link.startswith(str(env.client.make_url("/invitations/")))
    return link.rsplit("/", 1)[1]


def as_guest(env: Env) -> None:
    env.client.session.cookie_jar.clear()


async def join_page(env: Env, token: str) -> tuple[int, str]:
    response = await env.post_form(f"/invitations/{token}/join", {}, page=f"/invitations/{token}")
    return response.status, await response.text()  # type: ignore[attr-defined]


def guest_token_of(page: str) -> str:
    match = CONFIG_RE.search(page)
    assert match, page[-3000:]
    config = json.loads(unescape(match.group(1)))
    assert config["socket"] == "/ws/call/guest"
    token: str = config["token"]
    return token


async def test_a_link_admits_one_guest_once_and_is_stored_hashed_and_sealed(env: Env) -> None:
    appointment_id = await booked(env)
    open_room(env)
    token = await invite(env, appointment_id)

    async with env.uow().reading() as uow:
        row = (await uow.session.execute(select(invitations))).one()
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert row.seat == "care_home"
    assert NAME.encode() not in row.name_sealed and b"treating_physician" not in row.role_sealed
    assert len(await audited(env, "invitation.create")) == 1

    as_guest(env)
    landing = await env.client.get(f"/invitations/{token}")
    text = await landing.text()
    assert landing.status == 200, text
    assert "Rejoindre l'appel" in text
    assert (await env.client.get(f"/invitations/{token}")).status == 200  # opening uses nothing

    status, page = await join_page(env, token)
    assert status == 200, page[-2000:]
    guest_token = guest_token_of(page)
    claims = jwt.decode(guest_token, options={"verify_signature": False})
    assert claims["sub"] == f"guest:{row.id}"
    assert claims["room"] == str(appointment_id)
    assert len(await audited(env, "invitation.use")) == 1

    status, again = await join_page(env, token)
    assert status == 410, again[-2000:]
    assert "déjà été utilisé" in again
    assert len(await audited(env, "invitation.refused")) == 1

    # The guest token on the users' socket: refused (no such user).
    socket = await env.client.ws_connect("/ws/call")
    await socket.send_json({"v": 1, "type": "join", "token": guest_token})
    assert await closed_with(socket) == 4401

    # On the guests' socket: admitted, on the care home's side; the same token again: refused.
    socket = await env.client.ws_connect("/ws/call/guest")
    await socket.send_json({"v": 1, "type": "join", "token": guest_token})
    joined = await receive(socket)
    assert joined["type"] == "joined" and joined["seat"] == "care_home", joined
    assert len(await audited(env, "call.join.guest")) == 1
    replay = await env.client.ws_connect("/ws/call/guest")
    await replay.send_json({"v": 1, "type": "join", "token": guest_token})
    assert await closed_with(replay) == 4401
    await socket.send_json({"v": 1, "type": "leave"})
    assert await closed_with(socket) == 1000
    assert len(await audited_at_least(env, "call.leave.guest", 1)) == 1


async def test_a_user_token_is_refused_on_the_guest_socket(env: Env) -> None:
    appointment_id = await booked(env)
    open_room(env)
    await env.login(Role.IDE)
    user_token = await ticket(env, appointment_id, Role.IDE)
    socket = await env.client.ws_connect("/ws/call/guest")
    await socket.send_json({"v": 1, "type": "join", "token": user_token})
    assert await closed_with(socket) == 4401


async def test_a_revoked_link_is_refused_and_so_is_its_unused_join_token(env: Env) -> None:
    appointment_id = await booked(env)
    open_room(env)
    token = await invite(env, appointment_id)
    async with env.uow().reading() as uow:
        invitation_id = (await uow.session.execute(select(invitations.c.id))).scalar_one()
    listing = await env.client.get(f"/appointments/{appointment_id}/invitations")
    text = await listing.text()
    assert listing.status == 200 and NAME in text and "Lien pas encore utilisé" in text
    assert len(await audited(env, "invitation.list")) == 1
    response = await env.post_form(
        f"/appointments/{appointment_id}/invitations/{invitation_id}/revoke",
        {},
        page=f"/appointments/{appointment_id}/invitations",
    )
    assert response.status == 303  # type: ignore[attr-defined]
    assert len(await audited(env, "invitation.revoke")) == 1

    as_guest(env)
    landing = await env.client.get(f"/invitations/{token}")
    assert landing.status == 410
    assert "retirée" in await landing.text()
    status, page = await join_page(env, token)
    assert status == 410 and "retirée" in page

    # Used first, revoked before the guest's socket joins: the join token is refused.
    token = await invite(env, appointment_id)
    as_guest(env)
    status, page = await join_page(env, token)
    assert status == 200
    guest_token = guest_token_of(page)
    async with env.uow().reading() as uow:
        second = (
            await uow.session.execute(select(invitations.c.id).where(invitations.c.used_at.is_not(None)))
        ).scalar_one()
    await env.login(Role.IDEC)
    response = await env.post_form(
        f"/appointments/{appointment_id}/invitations/{second}/revoke",
        {},
        page=f"/appointments/{appointment_id}/invitations",
    )
    assert response.status == 303  # type: ignore[attr-defined]
    socket = await env.client.ws_connect("/ws/call/guest")
    await socket.send_json({"v": 1, "type": "join", "token": guest_token})
    assert await closed_with(socket) == 4401


async def test_an_expired_link_is_refused(env: Env) -> None:
    appointment_id = await booked(env)
    open_room(env)
    token = await invite(env, appointment_id, valid_hours="1")
    env.clock.advance(timedelta(hours=1, minutes=1))
    as_guest(env)
    landing = await env.client.get(f"/invitations/{token}")
    assert landing.status == 410
    assert "expiré" in await landing.text()
    status, page = await join_page(env, token)
    assert status == 410 and "expiré" in page


async def test_outside_the_rooms_hours_the_link_is_refused_and_stays_usable(env: Env) -> None:
    appointment_id = await booked(env)
    token = await invite(env, appointment_id)  # Monday: the room opens Tuesday 13:45 Paris
    as_guest(env)
    landing = await env.client.get(f"/invitations/{token}")
    text = await landing.text()
    assert landing.status == 200 and "Rejoindre l'appel" not in text and "13:45" in text
    status, page = await join_page(env, token)
    assert status == 409, page[-2000:]
    assert "13:45" in page
    open_room(env)
    status, page = await join_page(env, token)
    assert status == 200, page[-2000:]
    # After the room closed (Tuesday 15:00 Paris): a new link cannot even be made.
    env.clock.advance(timedelta(hours=3))
    await env.login(Role.IDEC)
    response = await env.post_form(
        f"/appointments/{appointment_id}/invitations",
        {"role": "family", "name": "Famille"},
        page=f"/appointments/{appointment_id}",
    )
    assert response.status == 409  # type: ignore[attr-defined]


async def test_an_unknown_link_and_another_appointments_invitation_are_404(env: Env) -> None:
    appointment_id = await booked(env)
    open_room(env)
    await invite(env, appointment_id)
    async with env.uow().reading() as uow:
        invitation_id = (await uow.session.execute(select(invitations.c.id))).scalar_one()
    response = await env.post_form(
        f"/appointments/{uuid.uuid4()}/invitations/{invitation_id}/revoke",
        {},
        page=f"/appointments/{appointment_id}/invitations",
    )
    assert response.status == 404  # type: ignore[attr-defined]
    as_guest(env)
    landing = await env.client.get("/invitations/not-a-token-of-ours")
    assert landing.status == 404
    assert "n'est pas valide" in await landing.text()


async def test_only_the_calls_leads_may_invite(env: Env) -> None:
    appointment_id = await booked(env)
    open_room(env)
    for role, status in (
        (Role.IDE, 403),
        (Role.SECRETARIAT, 403),
        (Role.EXPERT, 200),
        (Role.MEDECIN_CO, 200),
    ):
        await env.login(role)
        response = await env.post_form(
            f"/appointments/{appointment_id}/invitations",
            {"role": "interpreter", "name": "Interprète"},
            page="/login",
        )
        assert response.status == status, (role, await response.text())  # type: ignore[attr-defined]
    async with env.uow().reading() as uow:
        seats = sorted(row.seat for row in await uow.session.execute(select(invitations.c.seat)))
    assert seats == ["care_home", "expert"]  # the guest sits on the inviter's side


def test_a_guest_token_says_so_and_keeps_every_check() -> None:
    now = datetime(2026, 11, 24, 13, 0, tzinfo=UTC)
    tokens = JoinTokens(Ed25519PrivateKey.generate(), issuer="https://teleconsult.test")
    invitation_id, room_id = uuid.uuid4(), uuid.uuid4()
    guest = tokens.verify(tokens.issue(invitation_id, room_id, Seat.EXPERT, now, guest=True).token, now)
    assert guest.is_guest and guest.participant_id == invitation_id and guest.room_id == room_id
    user = tokens.verify(tokens.issue(invitation_id, room_id, Seat.EXPERT, now).token, now)
    assert not user.is_guest
    stale = tokens.issue(invitation_id, room_id, Seat.EXPERT, now, guest=True).token
    try:
        tokens.verify(stale, now + timedelta(minutes=3))
    except JoinRefused as exc:
        assert exc.reason == "expired"
    else:
        raise AssertionError("an expired guest token was accepted")


def test_the_policy_lets_a_guest_join_their_own_room_only() -> None:
    mine, other = uuid.uuid4(), uuid.uuid4()
    guest = GuestPrincipal(uuid.uuid4(), mine)
    assert decide_guest(guest, Action.JOIN_CALL, mine) is Decision.ALLOW
    assert decide_guest(guest, Action.JOIN_CALL, other) is Decision.HIDE
    assert decide_guest(guest, Action.VIEW_APPOINTMENT, mine) is Decision.DENY
    assert decide_guest(guest, Action.INVITE_GUEST, mine) is Decision.DENY


async def test_a_guest_token_for_another_room_is_refused(env: Env) -> None:
    resident_id, expert_id = await setup(env)
    ids = []
    for starts_at in ("2026-11-24T13:00:00Z", "2026-11-24T13:45:00Z"):
        status, body = await book(env, booking(resident_id, expert_id, starts_at=starts_at))
        assert status == 201, body
        ids.append(uuid.UUID(body["id"]))
    appointment_id, other_id = ids
    open_room(env)
    await invite(env, appointment_id)
    async with env.uow().reading() as uow:
        invitation_id = (await uow.session.execute(select(invitations.c.id))).scalar_one()
    tokens = env.app[CALL_CONFIG].tokens
    # Validly signed, but naming another appointment than the invitation's: refused, and audited.
    for room in (other_id, uuid.uuid4()):
        forged = tokens.issue(invitation_id, room, Seat.CARE_HOME, env.clock.now(), guest=True).token
        socket = await env.client.ws_connect("/ws/call/guest")
        await socket.send_json({"v": 1, "type": "join", "token": forged})
        assert await closed_with(socket) == 4401
    assert len(await audited(env, "call.join.refused")) == 2
    assert await audited(env, "call.join.guest") == []
