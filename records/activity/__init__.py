"""Activity figures for coordinators: aggregates per month, care home and specialty, their exports and the
monthly PDF."""
