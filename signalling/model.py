"""The video domain: a room's hours, its seats, and the refusals a participant can meet. Pure Python: no
aiohttp, no SQLAlchemy, no I/O; the clock is passed in.

One room per appointment. It has two seats, one per side of the call: the hospital's (the booked expert)
and the care home's (one of its staff, on the tablet beside the resident). Whoever holds a seat and drops
keeps it for a while (``rejoin``), so that coming back does not end the call for the other side.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from teleconsult.errors import DomainError
from teleconsult.i18n import N_
from teleconsult.identity.model import CARE_HOME_ROLES, Role

PARIS = ZoneInfo("Europe/Paris")


class Seat(StrEnum):
    EXPERT = "expert"
    CARE_HOME = "care_home"

    @property
    def is_polite(self) -> bool:
        """Perfect negotiation needs one polite peer (it yields on glare): the care home's side, whose
        tablet is the one most likely to reconnect and renegotiate."""
        return self is Seat.CARE_HOME

    @property
    def other(self) -> Seat:
        return Seat.CARE_HOME if self is Seat.EXPERT else Seat.EXPERT


def seat_of(role: Role) -> Seat:
    return Seat.CARE_HOME if role in CARE_HOME_ROLES else Seat.EXPERT


@dataclass(frozen=True, slots=True)
class RoomRules:
    """How long before the start a room opens and after the end it closes."""

    opens_before: timedelta
    grace_after: timedelta


@dataclass(frozen=True, slots=True)
class RoomHours:
    opens_at: datetime
    closes_at: datetime

    @classmethod
    def of(cls, starts_at: datetime, ends_at: datetime, rules: RoomRules) -> RoomHours:
        return cls(starts_at - rules.opens_before, ends_at + rules.grace_after)

    def is_open(self, now: datetime) -> bool:
        return self.opens_at <= now < self.closes_at

    def check_open(self, now: datetime) -> None:
        """Raise :class:`RoomNotOpenYet` or :class:`RoomClosed` unless the room is open at ``now``."""
        if now < self.opens_at:
            raise RoomNotOpenYet(time=self.opens_at.astimezone(PARIS).strftime("%H:%M"))
        if now >= self.closes_at:
            raise RoomClosed()


# ----------------------------------------------------------------------------------------------- errors


class CallError(DomainError):
    """A join or a message refused; ``close_code`` is the WebSocket close code (docs/signalling.md)."""

    close_code = 4400


class RoomNotOpenYet(CallError):
    code = "room_not_open_yet"
    status = 409
    close_code = 4410
    message = N_("The call opens at %(time)s, shortly before the appointment. Come back then.")


class RoomClosed(CallError):
    code = "room_closed"
    status = 409
    close_code = 4410
    message = N_("This call is over: the time of the appointment has passed.")


class AppointmentNotBooked(CallError):
    code = "appointment_not_booked"
    status = 409
    close_code = 4410
    message = N_("This appointment was cancelled or is over: there is no call to join.")


class JoinRefused(CallError):
    """The join token was refused (forged, expired, replayed, for another room or service)."""

    code = "join_refused"
    status = 401
    close_code = 4401
    message = N_("Could not join the call: reload the page to try again.")

    def __init__(self, reason: str) -> None:
        super().__init__()
        #: Why, for the audit trail and the logs only (never shown: it would help a forger).
        self.reason = reason
