"""HTTP for identity. Importing the two modules registers their routes on :data:`routes`."""

from teleconsult.identity.routes import directory, sessions
from teleconsult.identity.routes._common import routes

__all__ = ["directory", "routes", "sessions"]
