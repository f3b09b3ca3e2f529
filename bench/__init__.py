"""Benchmarks: each ``bench/NAME.py`` runs alone (``python bench/NAME.py``) and ends with RESULT lines."""
