"""Comptes-rendus: the expert's structured report after a call or a tele-expertise answer, and its PDF."""
