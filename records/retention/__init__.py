"""Retention: find what has been kept long enough, delete it or crypto-shred it."""
