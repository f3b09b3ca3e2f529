"""The residents registry: identity per the INS rules, care home, room, treating physician, contact."""
