"""Pages per role, static assets and translations."""
