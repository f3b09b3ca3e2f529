"""The request pipeline, outermost first: request id and access log; errors to pages; language; session;
the access policy; CSRF. Security headers are added to every response, error pages and static files too.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
import uuid
from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import quote

from aiohttp import BodyPartReader, web
from aiohttp.typedefs import Handler

from records.audit.model import Outcome
from records.blobs import BlobNotFound
from records.crypto import CryptoError
from teleconsult import i18n
from teleconsult.clients import client_address
from teleconsult.db import UnitOfWork
from teleconsult.errors import DomainError, Forbidden, InvalidInput, MalformedRequest, TooManyRequests
from teleconsult.forms import UNREADABLE_BODY, read_form
from teleconsult.i18n import N_
from teleconsult.identity.policy import (
    HOME_ROUTE,
    AccessDenied,
    AccessHidden,
    Action,
    Decision,
    Principal,
    decide,
)
from teleconsult.identity.principal_cache import PrincipalCache
from teleconsult.identity.service import load_principal
from teleconsult.identity.service.trail import audit_alone
from teleconsult.keys import (
    CATALOGUES,
    CLOCK,
    LANGUAGE,
    LOGIN_SETTINGS,
    MULTIPART,
    NAV_COUNTS,
    PRE_SESSION,
    PRINCIPAL,
    RENDERER,
    SESSION_EXPIRED,
    SESSION_FACTORY,
    SESSION_TOKEN,
    SETTINGS,
)
from teleconsult.logs import request_id_var
from teleconsult.routing import route_spec

log = logging.getLogger("teleconsult.http")

#: Who is behind which session cookie, for a few seconds (teleconsult/identity/principal_cache.py).
PRINCIPAL_CACHE: Final = web.AppKey[PrincipalCache]("principal_cache")

SESSION_COOKIE = "tc_session"
PRE_SESSION_COOKIE = "tc_pre"
LANGUAGE_COOKIE = "tc_lang"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SESSIONLESS_ROUTES = frozenset({"static", "healthz", "readyz"})
#: The most a CSRF token part of a streamed upload may hold (a token is 64 hex digits).
CSRF_PART_MAX = 256

#: What the user reads when stored health data fails to decrypt or verify (records.crypto, records.blobs).
UNREADABLE_CODE = "document.unreadable"
UNREADABLE_MESSAGE = N_("Unreadable document: contact the administrator.")

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; media-src 'self' blob:; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)

#: Title and next step of each error page, by status (msgids).
ERROR_PAGES: dict[int, tuple[str, str]] = {
    400: (N_("The request could not be read"), N_("Go back, reload the page and try again.")),
    401: (N_("Please log in"), N_("Log in again to continue.")),
    403: (N_("Access refused"), N_("Go back to your home page, or ask your administrator for access.")),
    404: (N_("Page not found"), N_("Check the address, or go back to your home page.")),
    405: (N_("Action not possible here"), N_("Go back to your home page.")),
    409: (
        N_("Someone changed this at the same time"),
        N_("Reload the page to see the current state, then try again."),
    ),
    413: (N_("The file or form is too large"), N_("Send a smaller file (or fewer at once) and try again.")),
    415: (N_("This kind of file is not accepted"), N_("Send a photo (JPEG, PNG, HEIC) or a PDF.")),
    416: (N_("This part of the file does not exist"), N_("Download the whole file again.")),
    422: (N_("Some fields need your attention"), N_("Go back, correct the fields shown and send again.")),
    429: (N_("Too many attempts"), N_("Wait a moment before trying again.")),
    500: (
        N_("Something went wrong on our side"),
        N_(
            "Nothing you did caused this. Try again in a minute; if it persists, call your support and give "
            "them the error reference."
        ),
    ),
}


def client_address_of(request: web.Request) -> str:
    """The client's address, through the reverse proxies the settings trust (see teleconsult.clients)."""
    return client_address(
        request.remote, request.headers.get("X-Forwarded-For"), request.app[SETTINGS].trusted_proxies
    )


def wants_json(request: web.Request) -> bool:
    if request.path.startswith("/api/"):
        return True
    accept = request.headers.get("Accept", "")
    return "application/json" in accept and "text/html" not in accept


def csrf_token(request: web.Request) -> str:
    """The token forms must send back: an HMAC of the session (or pre-session) cookie under the secret."""
    binding = request.get(SESSION_TOKEN) or request.get(PRE_SESSION)
    if binding is None:
        binding = request.cookies.get(PRE_SESSION_COOKIE) or secrets.token_urlsafe(24)
        request[PRE_SESSION] = binding
    key = request.app[SETTINGS].secret_key.encode()
    return hmac.new(key, b"csrf|" + binding.encode(), hashlib.sha256).hexdigest()


def layout_context(request: web.Request) -> dict[str, Any]:
    """What the layout of every page, error pages included, needs: who, the CSRF token, the language, and
    ``can(action)`` so that templates show a link or a form only where the policy would allow it."""
    principal: Principal | None = request.get(PRINCIPAL)

    def can(action: str) -> bool:
        return decide(principal, Action(action)) is Decision.ALLOW

    return {
        "request": request,
        "principal": principal,
        "can": can,
        # Anonymous error pages carry no token: rendering one would set a cookie on an error answer.
        "csrf_token": csrf_token(request) if principal is not None or request.get(PRE_SESSION) else "",
        "lang": i18n.current_language(),
        "session_expired": request.get(SESSION_EXPIRED, False),
        "nav_counts": request.get(NAV_COUNTS, {}),
    }


def render_error(
    request: web.Request,
    status: int,
    message: str | None = None,
    fields: dict[str, str] | None = None,
    code: str | None = None,
    headers: dict[str, str] | None = None,
    params: Mapping[str, Any] | None = None,
) -> web.Response:
    title, next_step = ERROR_PAGES.get(status, ERROR_PAGES[500 if status >= 500 else 400])
    _ = i18n.gettext_
    text = _(message) if message else _(title)
    if message and params:
        text = text % params
    translated_fields = {name: _(msg) for name, msg in (fields or {}).items()}
    if wants_json(request):
        body: dict[str, Any] = {"error": code or str(status), "message": text}
        if translated_fields:
            body["fields"] = translated_fields
        return web.json_response(body, status=status, headers=headers)
    principal: Principal | None = request.get(PRINCIPAL)
    home = None
    if principal is not None and principal.second_factor_done:
        home = str(request.app.router[HOME_ROUTE[principal.role]].url_for())
    try:
        html = request.app[RENDERER].render(
            "error.html",
            {
                **layout_context(request),
                "status": status,
                "title": _(title),
                "message": text,
                "next_step": _(next_step),
                "fields": translated_fields,
                "home": home,
                "request_id": request_id_var.get(),
            },
        )
    except Exception:
        # The error page itself failed: answer with a page that cannot fail, still without any detail.
        log.exception("error page failed to render")
        html = LAST_RESORT_PAGE.format(status=status, request_id=request_id_var.get())
    return web.Response(text=html, status=status, content_type="text/html", headers=headers)


LAST_RESORT_PAGE = """<!doctype html><html lang="fr"><meta charset="utf-8"><title>Erreur {status}</title>
<h1>Erreur {status}</h1><p>Le service n'a pas pu afficher cette page. Réessayez dans une minute ;
si cela persiste, contactez votre support avec la référence {request_id}.</p>
<p><a href="/">Accueil</a></p></html>"""


@web.middleware
async def request_context(request: web.Request, handler: Handler) -> web.StreamResponse:
    incoming = request.headers.get("X-Request-ID", "")
    request_id = (
        incoming
        if 8 <= len(incoming) <= 64 and incoming.isascii() and incoming.replace("-", "").isalnum()
        else uuid.uuid4().hex
    )
    token = request_id_var.set(request_id)
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        response.headers["X-Request-ID"] = request_id
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        spec = route_spec(request)
        log.info(
            "request",
            extra={
                "method": request.method,
                "route": spec.path if spec else "(unmatched)",
                "status": status,
                "ms": round((time.perf_counter() - started) * 1000, 1),
            },
        )
        request_id_var.reset(token)


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except InvalidInput as exc:
        return render_error(request, exc.status, exc.text, exc.fields, exc.code)
    except TooManyRequests as exc:
        return render_error(
            request,
            exc.status,
            exc.text,
            code=exc.code,
            headers={"Retry-After": str(exc.retry_after_seconds)},
        )
    except DomainError as exc:
        return render_error(request, exc.status, exc.text, code=exc.code, params=exc.params)
    except (CryptoError, BlobNotFound) as exc:
        # Stored health data that does not decrypt or verify (altered, truncated, moved, key gone) or a
        # missing blob: an alert for the operator, by code and ids only; the user never sees a trace, and
        # nothing of the data was sent (readers yield verified bytes only; handlers check before sending).
        log.error("stored data unreadable", extra={"code": exc.code, **_ids_in_path(request)})
        return render_error(request, 500, UNREADABLE_MESSAGE, code=UNREADABLE_CODE)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return render_error(
            request,
            exc.status,
            headers={
                k: v
                for k, v in exc.headers.items()
                if k in ("Allow", "Retry-After", "WWW-Authenticate", "Content-Range", "Accept-Ranges")
            },
        )
    except OSError:
        spec = route_spec(request)
        if spec is not None and spec.name == "static":  # e.g. a file name longer than the filesystem allows
            return render_error(request, 404)
        log.exception("unhandled error")
        return render_error(request, 500)
    except Exception:
        # The traceback goes to the log (which never holds request bodies); the user sees a reference.
        log.exception("unhandled error")
        return render_error(request, 500)


def _ids_in_path(request: web.Request) -> dict[str, str]:
    """The UUIDs named in the URL (resident_id, document_id...), for a log line that holds no data."""
    ids: dict[str, str] = {}
    for name, value in request.match_info.items():
        try:
            ids[name] = str(uuid.UUID(value))
        except ValueError:
            continue
    return ids


@web.middleware
async def language(request: web.Request, handler: Handler) -> web.StreamResponse:
    default = request.app[SETTINGS].language
    lang = i18n.pick_language(request.cookies.get(LANGUAGE_COOKIE), default)
    request[LANGUAGE] = lang
    with i18n.active_language(lang, request.app[CATALOGUES].get(lang)):
        return await handler(request)


@web.middleware
async def authentication(request: web.Request, handler: Handler) -> web.StreamResponse:
    token = request.cookies.get(SESSION_COOKIE)
    request[PRINCIPAL] = None
    spec = route_spec(request)
    if spec is not None and spec.name in SESSIONLESS_ROUTES:
        return await handler(request)  # no database round trip for stylesheets and probes
    if token and len(token) <= 128:
        app = request.app
        found = await load_principal(
            UnitOfWork(app[SESSION_FACTORY]),
            token,
            app[LOGIN_SETTINGS].sessions,
            app[CLOCK].now(),
            app.get(PRINCIPAL_CACHE),
        )
        if found is None:
            request[SESSION_EXPIRED] = True
        else:
            request[PRINCIPAL] = found
            request[SESSION_TOKEN] = token
    return await handler(request)


async def _audit_refusal(request: web.Request, principal: Principal | None, route_name: str) -> None:
    app = request.app
    await audit_alone(
        UnitOfWork(app[SESSION_FACTORY]),
        app[CLOCK].now(),
        "access.denied",
        Outcome.DENIED,
        principal.user if principal else None,
        client_address_of(request),
        "route",
        route_name,
    )


@web.middleware
async def access_policy(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.match_info.http_exception is not None:
        return await handler(request)  # unknown URL or method: the router answers 404/405
    spec = route_spec(request)
    if spec is None:
        log.error("route without a policy decision refused", extra={"path_pattern": request.path[:100]})
        raise Forbidden()
    principal: Principal | None = request[PRINCIPAL]
    decision = decide(principal, spec.action)
    if decision is Decision.ALLOW:
        try:
            return await handler(request)
        except (AccessDenied, AccessHidden):  # an object-level refusal by a service
            await _audit_refusal(request, principal, spec.name)
            raise
    if principal is not None and principal.second_factor_done:
        await _audit_refusal(request, principal, spec.name)
    if decision is Decision.HIDE:
        raise web.HTTPNotFound()
    if principal is None:
        if wants_json(request) or request.method not in SAFE_METHODS:
            raise web.HTTPUnauthorized()
        # The login page ignores a 'next' of 500 characters or more: don't build a huge Location for it.
        target = "/login?next=" + quote(request.path_qs, safe="") if len(request.path_qs) < 500 else "/login"
        if request.get(SESSION_EXPIRED):
            target += ("&" if "?" in target else "?") + "expired=1"
        raise web.HTTPSeeOther(target)
    if not principal.second_factor_done and request.method in SAFE_METHODS and not wants_json(request):
        raise web.HTTPSeeOther(str(request.app.router["login.second_factor"].url_for()))
    raise Forbidden()


@web.middleware
async def csrf(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.match_info.http_exception is not None:
        return await handler(request)  # unknown URL or method: 404/405 say more than "form expired"
    if request.method in SAFE_METHODS:
        response = await handler(request)
        pre = request.get(PRE_SESSION)
        if pre and request.cookies.get(PRE_SESSION_COOKIE) != pre:
            # A page rendered a form for someone without a session: bind its token to a fresh cookie.
            response.set_cookie(
                PRE_SESSION_COOKIE,
                pre,
                httponly=True,
                samesite="Lax",
                secure=request.app[SETTINGS].secure_cookies,
                path="/",
            )
        return response
    expected = csrf_token(request)
    sent = request.headers.get(CSRF_HEADER)
    spec = route_spec(request)
    if (
        sent is None
        and spec is not None
        and spec.streams_body
        and request.content_type == "multipart/form-data"
    ):
        sent = await _first_part_token(request)
    if sent is None and request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        sent = (await read_form(request)).get(CSRF_FIELD)
    if not sent or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise Forbidden(N_("This form has expired. Reload the page and send it again."))
    return await handler(request)


async def _first_part_token(request: web.Request) -> str | None:
    """The ``csrf_token`` part a streamed upload's form sends first; the reader, positioned after it, is
    left to the handler. Nothing else of the body is read before the token is checked."""
    try:
        reader = await request.multipart()
        part = await reader.next()
        if not isinstance(part, BodyPartReader) or part.name != CSRF_FIELD or part.filename is not None:
            return None
        token = bytearray()
        while chunk := await part.read_chunk(CSRF_PART_MAX):
            token += chunk
            if len(token) > CSRF_PART_MAX:
                return None
    except UNREADABLE_BODY as exc:
        raise MalformedRequest() from exc
    request[MULTIPART] = reader
    return token.decode("ascii", errors="replace").strip()


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CSP)
    headers["X-Content-Type-Options"] = "nosniff"
    headers["X-Frame-Options"] = "DENY"
    headers["Referrer-Policy"] = "same-origin"
    headers["Permissions-Policy"] = "camera=(self), microphone=(self), geolocation=(), payment=(), usb=()"
    headers["Cross-Origin-Opener-Policy"] = "same-origin"
    settings = request.app[SETTINGS]
    if settings.secure_cookies:
        headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
    if request.get(PRINCIPAL) is not None or request.path.startswith(("/login", "/admin")):
        headers.setdefault("Cache-Control", "no-store")


#: Outermost first. ``language`` wraps ``errors`` so that error pages are rendered in the user's language.
MIDDLEWARES = [request_context, language, errors, authentication, access_policy, csrf]
