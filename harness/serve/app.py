"""The dashboard's web app (Starlette): server-rendered pages, live updates by server-sent
events, and the operator's actions — every page behind the session token, every action a
POST with the session's CSRF token."""

from __future__ import annotations

import asyncio
import hmac
import json
import secrets
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from types import MappingProxyType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from harness.backtest.report import backtest_view
from harness.decisions import decide
from harness.engine.context import Services
from harness.engine.killswitch import (
    engage_kill_switch,
    release_kill_switch,
    stop_reason,
)
from harness.errors import MAX_INTEGER, FactoryError, NotFoundError
from harness.lessons.evidence import lessons, proposals
from harness.reports.issues import issue_page, queue_view
from harness.reports.report import EVIDENCE, healing, run_page
from harness.reports.runs import PAGE_SIZE, RunFilters, runs_page
from harness.reports.status import Status, status, trends
from harness.reports.text import render

COOKIE = "factory_session"
MAX_SESSIONS = 64  # the oldest session ends when another opens beyond this
POLL_S = 1.0  # how often the Now page's live part is read again for its stream
_HERE = Path(__file__).resolve().parent
_STATIC = MappingProxyType({"live.js": "text/javascript", "style.css": "text/css"})
_IMAGES = MappingProxyType(
    {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".webp": "image/webp"}
)
HEADERS = MappingProxyType(
    {
        "Content-Security-Policy": (
            "default-src 'none'; img-src 'self'; script-src 'self'; style-src 'self'; "
            "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
        ),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
        "Cache-Control": "no-store",
        "X-Frame-Options": "DENY",
    }
)
Handler = Callable[[Request, "Session"], Awaitable[Response]]


@dataclass(frozen=True)
class Session:
    id: str
    csrf: str


@dataclass
class Dashboard:
    """The app's state: the services it reads, its token and the sessions it opened."""

    services: Services
    token: str
    actor: str  # who a person's decision is recorded as
    # the services a person's decision runs with: read afresh (production's rules now)
    fresh: Callable[[], Services]
    sessions: dict[str, Session] = field(default_factory=dict)
    flash: dict[str, str] = field(default_factory=dict)  # session -> what its last action did
    closing: bool = False
    deciding: threading.Lock = field(default_factory=threading.Lock)
    # approvals land in the background, one at a time: issue -> what is in progress / came of it
    pending: dict[int, str] = field(default_factory=dict)
    decided: dict[int, str] = field(default_factory=dict)

    # -- the guard -----------------------------------------------------------------------
    def session_of(self, request: Request) -> Session | None:
        sid = request.cookies.get(cookie_name(request), "")
        for known, session in list(self.sessions.items()):
            if sid and hmac.compare_digest(known.encode(), sid.encode()):
                return session
        return None

    def guard(
        self, handler: Handler, post: bool = False
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            response = await self._checked(request, handler, post)
            for name, value in HEADERS.items():
                response.headers.setdefault(name, value)
            return response

        return endpoint

    async def _checked(self, request: Request, handler: Handler, post: bool) -> Response:
        session = self.session_of(request)
        offered = request.query_params.get("token")
        if offered is not None:
            if not hmac.compare_digest(offered.encode(), self.token.encode()):
                return self.refuse(403, "wrong token")
            if post:
                return self.refuse(403, "actions take the session cookie, not the token")
            session = self._open_session()
            rest = request.url.remove_query_params("token")  # the address, the token left out
            redirect = RedirectResponse(_local(str(rest.replace(scheme="", netloc=""))), 303)
            # path "/", not secure: the defaults (the dashboard is served over plain HTTP)
            redirect.set_cookie(cookie_name(request), session.id, httponly=True, samesite="strict")
            return redirect
        if session is None:
            return self.refuse(401, "open the URL that 'factory serve' printed (it has the token)")
        if post:
            problem = await self._cross_site(request, session)
            if problem:
                return self.refuse(403, problem)
        try:
            return await handler(request, session)
        except NotFoundError as exc:
            return self.refuse(404, str(exc))

    async def _cross_site(self, request: Request, session: Session) -> str | None:
        origin = request.headers.get("origin")
        if origin and origin != "null":
            own = f"{request.url.scheme}://{request.headers.get('host', '')}"
            if origin != own:
                return "a request from another site"
        elif origin == "null":
            return "a request from an opaque origin"
        form = await form_of(request)
        offered = form.get("csrf", "")
        if not offered or not hmac.compare_digest(offered.encode(), session.csrf.encode()):
            return "missing or wrong CSRF token (reload the page)"
        return None

    def _open_session(self) -> Session:
        session = Session(secrets.token_urlsafe(32), secrets.token_urlsafe(32))
        self.sessions[session.id] = session
        while len(self.sessions) > MAX_SESSIONS:
            oldest = next(iter(self.sessions))
            self.sessions.pop(oldest)
            self.flash.pop(oldest, None)
        return session

    def refuse(self, status: int, why: str) -> Response:
        return HTMLResponse(render("error.html", status=status, why=why), status_code=status)

    def page(self, name: str, session: Session, **data: Any) -> HTMLResponse:
        return HTMLResponse(render(name, csrf=session.csrf, page=name, **data))

    # -- pages ---------------------------------------------------------------------------
    def showing(self, template: str, **reads: Callable[..., object]) -> Handler:
        """A read-only page: ``template`` rendered with each of its names read (in a worker
        thread) from the services and the path's parameters, ``name=read``."""

        async def shown(request: Request, session: Session) -> Response:
            params = request.path_params
            found = {
                name: await run_in_threadpool(read, self.services, **params)
                for name, read in reads.items()
            }
            return self.page(template, session, **found)

        return shown

    def live_html(self, session: Session) -> str:
        return render("now_live.html", status=now_status(self.services), csrf=session.csrf)

    async def events(self, request: Request, session: Session) -> Response:
        async def stream() -> AsyncIterator[str]:
            last = ""
            yield "retry: 2000\n\n"
            while not self.closing and not await request.is_disconnected():
                html = await run_in_threadpool(self.live_html, session)
                if html != last:
                    yield f"event: now\ndata: {json.dumps({'html': html})}\n\n"
                    last = html
                await asyncio.sleep(POLL_S)

        return StreamingResponse(stream(), media_type="text/event-stream")

    async def queue(self, request: Request, session: Session) -> Response:
        groups = await run_in_threadpool(
            queue_view,
            self.services,
            request.query_params.get("state"),  # a state the queue does not have pages nothing
            _page_number(request),
        )
        return self.page("queue.html", session, groups=groups)

    async def issue(self, request: Request, session: Session) -> Response:
        number = int(request.path_params["number"])
        if not 1 <= number <= MAX_INTEGER:
            return self.refuse(404, f"issue {number} does not exist")
        try:
            data = await run_in_threadpool(issue_page, self.services, number)
        except FactoryError as exc:
            return self.refuse(404, str(exc))
        said = self.flash.pop(session.id, None) or self.decided.get(number)
        return self.page(
            "issue.html", session, view=data, said=said, pending=self.pending.get(number)
        )

    async def runs(self, request: Request, session: Session) -> Response:
        q = request.query_params
        issue = q.get("issue", "").strip()
        filters = RunFilters(
            workflow=q.get("workflow") or None,
            status=q.get("status") or None,
            issue=int(issue) if issue.isdigit() and len(issue) < 19 else None,
            day=q.get("day") or None,
            page=_page_number(request),
        )
        services = self.services
        rows = await run_in_threadpool(runs_page, services.store, filters, services.clock())
        return self.page("runs.html", session, rows=rows, filters=filters, page_size=PAGE_SIZE)

    async def evidence(self, request: Request, session: Session) -> Response:
        raw = request.scope.get("raw_path", b"").decode("latin-1")
        found = confined(
            self.services.settings.state_dir / EVIDENCE, request.path_params["path"], raw
        )
        if found is None:
            return self.refuse(404, "no such evidence file")
        return Response(found.read_bytes(), media_type=_IMAGES[found.suffix.lower()])

    async def static(self, request: Request, session: Session) -> Response:
        name = str(request.path_params["name"])
        if name not in _STATIC:
            return self.refuse(404, "no such file")
        return Response((_HERE / "static" / name).read_bytes(), media_type=_STATIC[name])

    # -- actions -------------------------------------------------------------------------
    async def stop(self, request: Request, session: Session) -> Response:
        given = (await form_of(request)).get("reason", "")
        if not given.strip():  # the field is optional: then the reason says who stopped it
            given = f"stopped from the dashboard by {self.actor}"
        try:  # the same rule as 'factory stop --reason'
            reason = stop_reason("reason", given)
        except FactoryError as exc:
            return self.refuse(400, f"not stopped: {exc}")
        await run_in_threadpool(engage_kill_switch, self.services.store, reason)
        return RedirectResponse("/", status_code=303)

    async def resume(self, request: Request, session: Session) -> Response:
        await run_in_threadpool(release_kill_switch, self.services.store)
        return RedirectResponse("/", status_code=303)

    async def approve(self, request: Request, session: Session) -> Response:
        """Recorded and answered at once: landing means validating again (minutes), so it
        runs in the background and the issue page shows it in progress until it is done.
        Killed meanwhile, the validation run resumes at the next cycle like any other."""
        number = int(request.path_params["number"])
        if number in self.pending:
            self.flash[session.id] = f"issue {number}: {self.pending[number]} already in progress"
        else:
            self.pending[number] = "approval"
            self.decided.pop(number, None)
            threading.Thread(target=self._approve, args=(number,), daemon=True).start()
            self.flash[session.id] = f"issue {number}: approval recorded — landing …"
        return RedirectResponse(f"/issues/{number}", status_code=303)

    def _approve(self, number: int) -> None:
        try:
            self.decided[number] = self.decide("approve", number, "")
        finally:
            self.pending.pop(number, None)

    async def reject(self, request: Request, session: Session) -> Response:
        """Reject (``/reject``) or cancel (``/cancel``): answered once done."""
        number = int(request.path_params["number"])
        reason = (await form_of(request)).get("reason", "")
        action = request.url.path.rpartition("/")[2]
        self.flash[session.id] = await run_in_threadpool(self.decide, action, number, reason)
        return RedirectResponse(f"/issues/{number}", status_code=303)

    def decide(self, action: str, number: int, reason: str) -> str:
        """A person's approve, reject or cancel, as ``factory approve`` / ``reject`` /
        ``cancel`` do it; one line that says what came of it."""
        if not 1 <= number <= MAX_INTEGER:
            return f"not done: issue {number} does not exist"
        with self.deciding:  # one decision at a time
            services = self.fresh()
            try:
                return decide(services, action, number, self.actor, reason).message
            except FactoryError as exc:
                return f"not done: {exc}"
            finally:
                services.store.close()


def cookie_name(request: Request) -> str:
    """Cookies are per host, not per port: each dashboard names its own session cookie."""
    return f"{COOKIE}_{request.url.port or 0}"


async def form_of(request: Request) -> dict[str, str]:
    """An url-encoded form body (read once; kept on the request for the handler)."""
    cached = request.scope.get("factory.form")
    if isinstance(cached, dict):
        return cached
    body = (await request.body())[:65536].decode("utf-8", errors="replace")
    form = {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}
    request.scope["factory.form"] = form
    return form


def confined(root: Path, rel: str, raw_path: str) -> Path | None:
    """``root/rel`` if it is an image file inside ``root`` reached without ``..``, absolute
    parts, encoded separators or symbolic links; else None."""
    lowered = raw_path.lower()
    if "%2f" in lowered or "%5c" in lowered or "%2e" in lowered or "%00" in lowered:
        return None
    if not rel or "\\" in rel or "\x00" in rel or rel.startswith("/"):
        return None
    parts = PurePosixPath(rel).parts  # "" and "." are not parts: only ".." is left to refuse
    if ".." in parts:
        return None
    base = root.resolve()
    path = base.joinpath(*parts)
    try:
        real = path.resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    if real != path or not real.is_relative_to(base) or not real.is_file():
        return None  # a symbolic link somewhere on the way
    if real.suffix.lower() not in _IMAGES:
        return None
    return real


def _local(target: str) -> str:
    """A redirect target on this server only."""
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


def _page_number(request: Request) -> int:
    """The ``page`` asked for: 1 unless it is a number of at most six digits."""
    page = request.query_params.get("page", "")
    return int(page) if page.isdigit() and len(page) < 7 else 1


def now_status(services: Services) -> Status:
    """How the factory stands now (the Now page, its live part, the trust panel)."""
    return status(services.store, lambda: services.settings, services.clock())


def create_app(board: Dashboard) -> Starlette:
    """The app of the dashboard ``board``: its token opens a session (``/?token=…``); a
    person's decisions are recorded as its actor and run with its ``fresh()`` services."""
    pages: dict[str, Handler] = {
        "/": board.showing("now.html", status=now_status),
        "/events": board.events,
        "/queue": board.queue,
        "/issues/{number:int}": board.issue,
        "/runs": board.runs,
        "/runs/{run_id}": board.showing("run.html", view=run_page),
        "/trends": board.showing("trends.html", trends=trends, status=now_status),
        "/backtest": board.showing("backtest.html", view=lambda s: backtest_view(s.store)),
        "/lessons": board.showing("lessons.html", lessons=lessons, proposals=proposals),
        "/health": board.showing("health.html", view=healing),
        "/evidence/{path:path}": board.evidence,
        "/static/{name}": board.static,
    }
    decisions: dict[str, Handler] = {
        "/stop": board.stop,
        "/resume": board.resume,
        "/issues/{number:int}/approve": board.approve,
        "/issues/{number:int}/reject": board.reject,
        "/issues/{number:int}/cancel": board.reject,
    }
    routes = [Route(path, board.guard(handler)) for path, handler in pages.items()]
    posts = decisions.items()
    routes += [Route(path, board.guard(h, post=True), methods=["POST"]) for path, h in posts]
    return Starlette(routes=routes)
