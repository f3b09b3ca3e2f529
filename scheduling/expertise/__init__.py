"""Tele-expertise: asynchronous questions from a care home to a specialty queue, claimed and answered by an
expert, or turned into a teleconsultation booking."""
