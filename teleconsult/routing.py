"""Route declarations: every route names the policy action it performs, and pages join the page tests.

Each package builds a :class:`Routes` collection in its routes.py; create_app mounts them all. The policy
middleware refuses any route that did not declare an action (fail closed), and the access-matrix test
fails for it too.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from teleconsult.identity.model import Role
from teleconsult.identity.policy import Action
from teleconsult.keys import ROUTE_SPECS

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class PageSpec:
    """A page a person looks at: the page-test harness opens it as ``role`` (None: anonymous) in Chromium,
    runs axe-core on it and, for care-home pages, checks its weight."""

    role: Role | None
    care_home: bool = False
    #: Opened between the password and the second factor (the harness runs a server that requires one).
    pending_second_factor: bool = False


@dataclass(frozen=True, slots=True)
class RouteSpec:
    method: str
    path: str
    name: str
    action: Action
    handler: Handler | None  # None for the static files resource
    page: PageSpec | None = None
    #: The handler reads a multipart body itself, part by part (file uploads above max_body_bytes): a form
    #: without the X-CSRF-Token header must then send ``csrf_token`` as its first part.
    streams_body: bool = False


@dataclass
class Routes:
    specs: list[RouteSpec] = field(default_factory=list)

    def route(
        self,
        method: str,
        path: str,
        *,
        name: str,
        action: Action,
        page: PageSpec | None = None,
        streams_body: bool = False,
    ) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.specs.append(RouteSpec(method, path, name, action, handler, page, streams_body))
            return handler

        return register

    def get(
        self, path: str, *, name: str, action: Action, page: PageSpec | None = None
    ) -> Callable[[Handler], Handler]:
        return self.route("GET", path, name=name, action=action, page=page)

    def post(
        self, path: str, *, name: str, action: Action, streams_body: bool = False
    ) -> Callable[[Handler], Handler]:
        return self.route("POST", path, name=name, action=action, streams_body=streams_body)


def mount(app: web.Application, routes: Routes) -> None:
    specs = app[ROUTE_SPECS]
    for spec in routes.specs:
        if spec.name in specs:
            raise ValueError(f"route name {spec.name!r} is declared twice")
        # GET routes also answer HEAD (aiohttp's allow_head), under the same name and action.
        if spec.handler is None:
            raise ValueError(f"route {spec.name!r} has no handler")
        if spec.method == "GET":
            app.router.add_get(spec.path, spec.handler, name=spec.name)
        else:
            app.router.add_route(spec.method, spec.path, spec.handler, name=spec.name)
        specs[spec.name] = spec


def mount_static(app: web.Application, prefix: str, directory: Path) -> None:
    app.router.add_static(prefix, directory, name="static", append_version=True)
    app[ROUTE_SPECS]["static"] = RouteSpec("GET", prefix + "/{filename}", "static", Action.PUBLIC, None)


def route_spec(request: web.Request) -> RouteSpec | None:
    route = request.match_info.route
    name = route.name or (route.resource.name if route.resource else None)
    return request.app[ROUTE_SPECS].get(name) if name else None
