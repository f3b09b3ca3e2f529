"""Typed application and request state: every long-lived object is built once by create_app and kept here."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

if TYPE_CHECKING:  # only for the AppKey type parameters below; importing them for real would be circular
    from aiohttp import MultipartReader  # noqa: F401

    from records.blobs import BlobStore  # noqa: F401
    from records.crypto import (
        LocalKeyring,  # noqa: F401
        ReloadingKeyring,  # noqa: F401
    )
    from signalling.rooms import Hub  # noqa: F401
    from signalling.service import CallConfig  # noqa: F401
    from teleconsult.clock import Clock  # noqa: F401
    from teleconsult.i18n import Catalogues  # noqa: F401
    from teleconsult.identity.passwords import Passwords  # noqa: F401
    from teleconsult.identity.policy import Principal  # noqa: F401
    from teleconsult.identity.service import LoginSettings  # noqa: F401
    from teleconsult.identity.totp import TotpBox  # noqa: F401
    from teleconsult.mail import Mailer  # noqa: F401
    from teleconsult.rendering import Renderer  # noqa: F401
    from teleconsult.routing import RouteSpec  # noqa: F401
    from teleconsult.settings import Settings  # noqa: F401

SETTINGS: Final = web.AppKey["Settings"]("settings")
CLOCK: Final = web.AppKey["Clock"]("clock")
ENGINE: Final = web.AppKey[AsyncEngine]("engine")
SESSION_FACTORY: Final = web.AppKey[async_sessionmaker[AsyncSession]]("session_factory")
RENDERER: Final = web.AppKey["Renderer"]("renderer")
CATALOGUES: Final = web.AppKey["Catalogues"]("catalogues")
PASSWORDS: Final = web.AppKey["Passwords"]("passwords")
TOTP_BOX: Final = web.AppKey["TotpBox"]("totp_box")
LOGIN_SETTINGS: Final = web.AppKey["LoginSettings"]("login_settings")
ROUTE_SPECS: Final = web.AppKey["dict[str, RouteSpec]"]("route_specs")
#: The health-data keys (KEKs and the blind-index key), read at startup and again when they change.
KEYRING: Final = web.AppKey["ReloadingKeyring"]("keyring")
#: Where encrypted documents, photos and recordings are kept (records.blobs), under Settings.blob_dir.
BLOB_STORE: Final = web.AppKey["BlobStore"]("blob_store")
#: Outgoing e-mail (teleconsult.mail): SMTP when configured, kept in memory otherwise.
MAILER: Final = web.AppKey["Mailer"]("mailer")
#: Video rooms (signalling/): the join tokens' keys and the rooms' rules; the seats of this process's rooms.
CALL_CONFIG: Final = web.AppKey["CallConfig"]("call_config")
CALL_HUB: Final = web.AppKey["Hub"]("call_hub")

# Request-scoped values.
PRINCIPAL: Final = web.RequestKey["Principal | None"]("principal")
SESSION_TOKEN: Final = web.RequestKey[str]("session_token")
SESSION_EXPIRED: Final = web.RequestKey[bool]("session_expired")
PRE_SESSION: Final = web.RequestKey[str]("pre_session")
LANGUAGE: Final = web.RequestKey[str]("language")
#: The multipart reader of a streamed upload whose first part (the CSRF token) the CSRF middleware read.
MULTIPART: Final = web.RequestKey["MultipartReader"]("multipart")
#: Counts shown beside menu entries (e.g. unread notifications), filled by a package's middleware.
NAV_COUNTS: Final = web.RequestKey["dict[str, int]"]("nav_counts")
