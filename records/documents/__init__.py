"""Residents' documents: photos (DLU, wounds...) and PDFs, checked by content, re-encoded, encrypted."""
