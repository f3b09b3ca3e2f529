"""Small pure helpers about user-typed text."""

from __future__ import annotations


def has_control_characters(text: str) -> bool:
    """NUL and other control characters: no person types them, and PostgreSQL refuses NUL in text."""
    return any((ord(ch) < 32 and ch not in "\t\n\r") or 0x7F <= ord(ch) < 0xA0 for ch in text)
