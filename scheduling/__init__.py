"""Availability, slots, appointments, qualified requests, tele-expertise (built in the scheduling issue)."""
