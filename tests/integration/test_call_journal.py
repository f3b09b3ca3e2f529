"""The session journal of a call on both backends: what the server writes (joins, a reconnection after a
drop, leaves with their reasons, the end), what the pages report (ICE states, quality summaries, checked
and throttled), who may read it (API and appointment page, audited), and what activity counts from it."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from html import unescape
from typing import Any

from aiohttp import ClientWebSocketResponse

from signalling.store import SignallingStore
from teleconsult.identity.model import Role
from teleconsult.settings import Settings
from tests.integration.conftest import ClientFactory, Env, build_env
from tests.integration.test_signalling import (
    WAIT,
    audited,
    booked_and_open,
    closed_with,
    join,
    receive,
    ticket,
)


async def journal(env: Env, appointment_id: uuid.UUID, role: Role = Role.EXPERT) -> dict[str, Any]:
    await env.login(role)
    response = await env.client.get(f"/api/v1/appointments/{appointment_id}/call-journal")
    assert response.status == 200, await response.text()
    body: dict[str, Any] = await response.json()
    return body


async def journal_with(env: Env, appointment_id: uuid.UUID, kind: str, count: int = 1) -> list[Any]:
    """The journal's events once ``count`` of ``kind`` are there: a leave is written as the server's handler
    ends, which may be just after the client saw its socket close. A bounded poll, straight from the store
    (reading through the API would audit every poll)."""
    events: list[Any] = []
    for _ in range(int(WAIT / 0.05)):
        async with env.uow().reading() as uow:
            events = await uow.store(SignallingStore).events_of(appointment_id)
        if sum(1 for e in events if e.kind.value == kind) >= count:
            return events
        await asyncio.sleep(0.05)
    raise AssertionError(f"no {count} {kind} in {events}")


async def pair(
    env: Env, appointment_id: uuid.UUID
) -> tuple[ClientWebSocketResponse, ClientWebSocketResponse]:
    nurse = await join(env, await ticket(env, appointment_id, Role.IDE))
    await receive(nurse)
    expert = await join(env, await ticket(env, appointment_id, Role.EXPERT))
    await receive(expert)
    assert (await receive(nurse))["type"] == "peer-joined"
    return nurse, expert


async def test_a_call_with_a_drop_is_journaled_and_its_summary_read_by_both_sides(env: Env) -> None:
    appointment_id = await booked_and_open(env)
    nurse, expert = await pair(env, appointment_id)
    await nurse.send_json({"v": 1, "type": "ice", "state": "connected"})
    quality = {"bitrate_kbps": 820, "packet_loss_pct": 1.25, "rtt_ms": 48}
    await nurse.send_json({"v": 1, "type": "quality", **quality})
    await expert.send_json(
        {"v": 1, "type": "quality", "bitrate_kbps": 1180, "packet_loss_pct": 0, "rtt_ms": 52}
    )
    # Too soon after the last one from the same connection: not stored (a page cannot flood the journal).
    await nurse.send_json({"v": 1, "type": "quality", "bitrate_kbps": 1, "packet_loss_pct": 99, "rtt_ms": 9})
    # Not relayed: the other side hears nothing of it.
    await nurse.send_json({"v": 1, "type": "mute", "audio": True, "video": False})
    assert (await receive(expert))["type"] == "mute"

    await nurse.close()  # the tablet's Wi-Fi drops
    assert (await receive(expert))["reason"] == "dropped"
    back = await join(env, await ticket(env, appointment_id, Role.IDE))
    assert (await receive(back))["peer_present"] is True
    await back.send_json({"v": 1, "type": "ice", "state": "failed"})
    await back.send_json({"v": 1, "type": "ice", "state": "connected"})
    await expert.send_json({"v": 1, "type": "leave"})
    assert await closed_with(expert) == 1000
    await back.send_json({"v": 1, "type": "leave"})
    assert await closed_with(back) == 1000
    events = await journal_with(env, appointment_id, "end")

    kinds = [(e.kind.value, e.detail) for e in events]
    assert kinds.count(("join", None)) == 2 and kinds.count(("reconnect", None)) == 1
    assert ("leave", "dropped") in kinds and kinds.count(("leave", "normal")) == 2
    assert kinds.count(("quality", None)) == 2  # the flood was not stored
    assert kinds[-1] == ("end", "normal")  # the network was connected again when they hung up
    assert {e.kind.value for e in events if e.incident} == {"reconnect", "leave", "ice_state"}

    body = await journal(env, appointment_id, Role.EXPERT)
    summary = body["summary"]
    assert summary["reconnections"] == 1
    assert summary["incidents"] == 3  # the drop, the return, the ICE failure
    assert summary["mean_bitrate_kbps"] == 1000 and summary["worst_packet_loss_pct"] == 1.25
    assert summary["median_rtt_ms"] == 50 and summary["end_reason"] == "normal"
    names = {e["participant"] for e in body["events"] if e["kind"] == "join"}
    assert len(names) == 2 and None not in names
    assert (await journal(env, appointment_id, Role.IDEC))["summary"] == summary  # the care home too
    assert len(await audited(env, "call.journal.read")) == 2

    # The expert's appointment page shows it after the call.
    await env.login(Role.EXPERT)
    page = await env.client.get(f"/appointments/{appointment_id}")
    text = await page.text()
    assert page.status == 200
    assert "Journal de l'appel" in unescape(text), text[-4000:]
    assert "Reconnexions" in text


async def test_the_journal_is_refused_to_whoever_may_not_read_the_appointment(env: Env) -> None:
    appointment_id = await booked_and_open(env)
    await env.login(Role.COORDINATEUR)  # the territory's coordination: aggregates only, no appointment
    response = await env.client.get(f"/api/v1/appointments/{appointment_id}/call-journal")
    assert response.status in (403, 404)
    body = await response.json()
    assert body["error"] and body["message"]
    await env.login(Role.EXPERT)
    missing = await env.client.get(f"/api/v1/appointments/{uuid.uuid4()}/call-journal")
    assert missing.status == 404


async def test_a_bad_network_report_closes_the_connection_and_is_journaled_as_a_removal(env: Env) -> None:
    appointment_id = await booked_and_open(env)
    nurse, expert = await pair(env, appointment_id)
    await nurse.send_json({"v": 1, "type": "quality", "bitrate_kbps": -5, "packet_loss_pct": 0, "rtt_ms": 1})
    assert await closed_with(nurse) == 4400
    await expert.send_json({"v": 1, "type": "ice", "state": "gone-fishing"})
    assert await closed_with(expert) == 4400
    events = await journal_with(env, appointment_id, "leave", 2)
    assert [e.detail for e in events if e.kind.value == "leave"] == ["removed", "removed"]


async def test_a_participant_who_does_not_come_back_ends_the_call_on_a_timeout(
    aiohttp_client: ClientFactory, settings: Settings, clock: Any
) -> None:
    env = await build_env(aiohttp_client, settings.replace(call_rejoin_seconds=1), clock)
    appointment_id = await booked_and_open(env)
    nurse, expert = await pair(env, appointment_id)
    await expert.send_json({"v": 1, "type": "ice", "state": "failed"})
    await nurse.close()  # gone for good
    assert (await receive(expert))["reason"] == "dropped"
    assert (await receive(expert)) == {"v": 1, "type": "peer-left", "seat": "care_home", "reason": "gone"}
    await expert.send_json({"v": 1, "type": "leave"})
    await closed_with(expert)
    events = await journal_with(env, appointment_id, "end")
    ends = [e for e in events if e.kind.value == "end"]
    assert [(e.detail, e.incident) for e in ends] == [("timeout", True)]


async def test_a_hang_up_after_the_network_failed_ends_the_call_as_a_network_failure(env: Env) -> None:
    appointment_id = await booked_and_open(env)
    nurse, expert = await pair(env, appointment_id)
    await nurse.send_json({"v": 1, "type": "ice", "state": "failed"})
    await journal_with(env, appointment_id, "ice_state")
    await nurse.send_json({"v": 1, "type": "leave"})
    await closed_with(nurse)
    env.clock.advance(timedelta(seconds=1))
    await expert.send_json({"v": 1, "type": "leave"})
    await closed_with(expert)
    events = await journal_with(env, appointment_id, "end")
    assert [e.detail for e in events if e.kind.value == "end"] == ["ice_failed"]


async def test_continuing_as_a_tele_expertise_starts_from_the_appointment(env: Env) -> None:
    appointment_id = await booked_and_open(env)
    await env.login(Role.IDE)
    call = await env.client.get(f"/appointments/{appointment_id}/call")
    assert f"/expertise/new?from_appointment={appointment_id}" in await call.text()
    response = await env.client.get(f"/expertise/new?from_appointment={appointment_id}")
    text = unescape(await response.text())
    assert response.status == 200
    assert "Suite de la téléconsultation du" in text and "le réseau était trop faible" in text
    assert await audited(env, "appointment.read")  # the appointment was read through its policy, and audited
    # Garbage in the parameter: the plain empty form, no error.
    plain = await env.client.get("/expertise/new?from_appointment=not-an-id")
    assert plain.status == 200 and "Suite de la téléconsultation" not in unescape(await plain.text())
    # An appointment that does not exist: 404 with a message, not a half-filled form.
    missing = await env.client.get(f"/expertise/new?from_appointment={uuid.uuid4()}")
    assert missing.status == 404
