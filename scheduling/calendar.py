"""The iCalendar (RFC 5545) feed of a user's appointments, built with the ``icalendar`` library. Pure: the
events arrive with their words already chosen (and free of health data, see scheduling/notifications.py);
this module only lays them out.

Instants are written in UTC (``DTSTART:20261124T130000Z``), which every calendar application shows in its
own zone, so no VTIMEZONE block is needed. The UID is the appointment's id: a calendar that refreshes the
feed updates the event in place (SEQUENCE follows the appointment's version) instead of duplicating it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

from icalendar import Alarm, Calendar, Event

PRODUCT_ID = "-//teleconsult//Teleconsultations//FR"
UID_DOMAIN = "teleconsult"


@dataclass(frozen=True, slots=True)
class FeedEvent:
    appointment_id: UUID
    starts_at: datetime
    ends_at: datetime
    summary: str
    description: str
    url: str
    cancelled: bool
    sequence: int


def event_uid(appointment_id: UUID) -> str:
    return f"{appointment_id}@{UID_DOMAIN}"


def build_feed(
    events: Iterable[FeedEvent], calendar_name: str, offsets_minutes: Sequence[int], now: datetime
) -> bytes:
    """The whole calendar as bytes (CRLF lines, folded at 75 octets by the library)."""
    calendar = Calendar()
    calendar.add("prodid", PRODUCT_ID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("x-wr-calname", calendar_name)
    stamp = now.astimezone(UTC)
    for item in events:
        event = Event()
        event.add("uid", event_uid(item.appointment_id))
        event.add("dtstamp", stamp)
        event.add("dtstart", item.starts_at.astimezone(UTC))
        event.add("dtend", item.ends_at.astimezone(UTC))
        event.add("summary", item.summary)
        event.add("description", item.description)
        event.add("location", item.url)
        event.add("url", item.url)
        event.add("sequence", item.sequence)
        event.add("status", "CANCELLED" if item.cancelled else "CONFIRMED")
        event.add("transp", "TRANSPARENT" if item.cancelled else "OPAQUE")
        if not item.cancelled:
            for offset in offsets_minutes:
                alarm = Alarm()
                alarm.add("action", "DISPLAY")
                alarm.add("description", item.summary)
                alarm.add("trigger", -timedelta(minutes=offset))
                event.add_component(alarm)
        calendar.add_component(event)
    feed: bytes = calendar.to_ical()
    return feed
