"""Envelope encryption, encrypted blobs, residents, reports, audit chain (built in the records issue)."""
