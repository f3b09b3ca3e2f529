"""HTTP for identity. Importing the modules registers their routes on :data:`routes`."""

from teleconsult.identity.routes import calendar_feeds, directory, sessions
from teleconsult.identity.routes._common import routes

__all__ = ["calendar_feeds", "directory", "routes", "sessions"]
