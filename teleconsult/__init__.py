"""teleconsult: teleconsultation and tele-expertise between care homes (EHPAD) and hospital geriatricians."""

__version__ = "0.1.0"
