"""The admin console's pages: jobs, earnings and notifications, server-rendered, live over SSE.

Every page but sign-in needs an admin's session (:mod:`.session`); every form checks its CSRF
token before it changes anything, then redirects back with a notice (post/redirect/get).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping
from datetime import timedelta
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from litestar import Controller, Request, Response
from litestar.datastructures import State
from litestar.enums import RequestEncodingType
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.params import Body, FromPath
from litestar.response import Redirect, ServerSentEvent, ServerSentEventMessage, Template

from townsquare.core.earnings.money import CURRENCIES
from townsquare.core.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound
from townsquare.core.identity import Actor
from townsquare.core.jobs import POISON_TEST_JOB, JobStats, JobStatus
from townsquare.core.notifications.models import CATEGORIES, Channel
from townsquare.hosts.http.console.session import (
    CSRF_FIELD,
    SESSION_COOKIE,
    SIGN_IN_CSRF_COOKIE,
    ConsoleSession,
    CsrfRefused,
    console_guard,
    cookie,
    new_sign_in_csrf,
)
from townsquare.hosts.http.deps import ServicesDep
from townsquare.hosts.http.routes.declare import get, post
from townsquare.hosts.http.routes.notifications import _count_events
from townsquare.hosts.metrics import QueueSnapshot

LIVE_INTERVAL_SECONDS = 1.0
"""How often the jobs page's live counts are sent if changed (one shared read a second: QueueSnapshot)."""
DEAD_LETTERS_SHOWN = 20
Form = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]


def _snapshot(state: State) -> QueueSnapshot:
    snapshot: QueueSnapshot = state["queue_snapshot"]
    return snapshot


def _session(state: State) -> ConsoleSession:
    session: ConsoleSession = state["console_session"]
    return session


def _page(request: Request[Any, Any, Any], name: str, status_code: int = 200, **context: Any) -> Template:
    """Render a console page with what every page shows (who is signed in, the CSRF token, the notice)."""
    user = request.scope.get("user")
    return Template(
        template_name=name,
        status_code=status_code,
        context={
            "admin": user.user_id if isinstance(user, Actor) else None,
            "csrf_field": CSRF_FIELD,
            "csrf": _session(request.app.state).csrf_token(request) if isinstance(user, Actor) else "",
            "notice": request.query_params.get("notice", ""),
            **context,
        },
    )


def _back(path: str, notice: str, **params: str) -> Redirect:
    return Redirect(path + "?" + urlencode({**params, "notice": notice}), status_code=303)


def money(amount: int, currency: str) -> str:
    """Minor units as the currency writes them (1234 USD -> 12.34 USD; JPY has no minor unit)."""
    digits = CURRENCIES.get(currency, 2)
    sign = "-" if amount < 0 else ""
    whole, minor = divmod(abs(amount), 10**digits)
    return f"{sign}{whole:,}.{minor:0{digits}d} {currency}" if digits else f"{sign}{whole:,} {currency}"


def stats_document(stats: JobStats) -> dict[str, Any]:
    """The jobs page's live counts, as the SSE stream and the first render carry them."""
    return {
        "by_status": {status.value: stats.by_status.get(status, 0) for status in JobStatus},
        "by_type": [
            {"job_type": entry.job_type, "counts": {status.value: entry.counts.get(status, 0) for status in JobStatus}}
            for entry in stats.by_type
        ],
        "dead_letters": stats.dead_letters,
        "oldest_due_age_seconds": round(stats.oldest_due_age.total_seconds(), 1),
        "estimated": stats.estimated,
    }


# -- errors: sign in, refused, and the domain's own --------------------------------------------


def _sign_in_redirect(request: Request[Any, Any, Any], _: NotAuthorizedException) -> Response[Any]:
    target = request.url.path if request.method == "GET" else "/console/jobs"
    return Redirect("/console/sign-in?next=" + quote(target, safe="/"), status_code=303)


def _denied(request: Request[Any, Any, Any], exc: PermissionDeniedException) -> Response[Any]:
    return _page(request, "message.html", 403, title="Admins only", message=exc.detail, sign_in=True)


def _csrf_refused(request: Request[Any, Any, Any], exc: CsrfRefused) -> Response[Any]:
    message = f"{exc}: nothing was changed. Reload the page and submit the form again."
    return _page(request, "message.html", 403, title="Form refused", message=message)


_DOMAIN_STATUS = {InvalidInput: 400, Forbidden: 403, NotFound: 404, Conflict: 409}


def _domain_error(request: Request[Any, Any, Any], exc: DomainError) -> Response[Any]:
    status = next((code for kind, code in _DOMAIN_STATUS.items() if isinstance(exc, kind)), 400)
    return _page(request, "message.html", status, title="Not done", message=str(exc))


EXCEPTION_HANDLERS: Mapping[Any, Any] = {
    NotAuthorizedException: _sign_in_redirect,
    PermissionDeniedException: _denied,
    CsrfRefused: _csrf_refused,
    DomainError: _domain_error,
}


# -- sign-in -----------------------------------------------------------------------------------


class SignInController(Controller):
    path = "/console"
    include_in_schema = False
    opt = {"exclude_from_auth": True}

    @get("/")
    async def root(self) -> Redirect:
        return Redirect("/console/jobs", status_code=303)

    @get("/sign-in")
    async def sign_in_form(self, request: Request[Any, Any, Any]) -> Template:
        token = new_sign_in_csrf()
        page = _page(request, "sign_in.html", next=request.query_params.get("next", "/console/jobs"), csrf=token)
        page.cookies.append(cookie(SIGN_IN_CSRF_COOKIE, token, secure=request.url.scheme == "https"))
        return page

    @post("/sign-in")
    async def sign_in(self, request: Request[Any, Any, Any], data: Form) -> Response[Any]:
        session = _session(request.app.state)
        session.check_sign_in_csrf(request, data)
        token = data.get("token", "").strip()
        try:
            actor = session.check_token(token)
        except NotAuthorizedException as exc:
            retry = new_sign_in_csrf()
            page = _page(request, "sign_in.html", 401, next=data.get("next", ""), csrf=retry, error=exc.detail)
            page.cookies.append(cookie(SIGN_IN_CSRF_COOKIE, retry, secure=request.url.scheme == "https"))
            return page
        if not actor.is_admin:
            raise PermissionDeniedException(f"{actor.user_id} is not an admin: the console needs the admin role")
        target = data.get("next", "")
        # Only back into the console: a sign-in link must not send an admin elsewhere.
        if not target.startswith("/console/") or target.startswith("//"):
            target = "/console/jobs"
        secure = request.url.scheme == "https"
        response = Redirect(target, status_code=303)
        response.cookies.append(cookie(SESSION_COOKIE, token, secure=secure))
        response.cookies.append(cookie(SIGN_IN_CSRF_COOKIE, "", secure=secure, max_age=0))
        return response

    @post("/sign-out", guards=[console_guard])
    async def sign_out(self, request: Request[Any, Any, Any], data: Form) -> Redirect:
        _session(request.app.state).check_csrf(request, data)
        response = Redirect("/console/sign-in", status_code=303)
        response.cookies.append(cookie(SESSION_COOKIE, "", secure=request.url.scheme == "https", max_age=0))
        return response


# -- jobs --------------------------------------------------------------------------------------


class JobsController(Controller):
    path = "/console/jobs"
    guards = [console_guard]
    include_in_schema = False
    opt = {"exclude_from_auth": True}

    @get("/")
    def jobs(self, request: Request[Any, Any, Any], services: ServicesDep) -> Template:
        stats = _snapshot(request.app.state).jobs()
        actor = request.scope["user"]
        dead = services.jobs.dead_letters(actor, limit=DEAD_LETTERS_SHOWN)
        pending = services.jobs.list_jobs(actor, JobStatus.PENDING, limit=DEAD_LETTERS_SHOWN)
        running = services.jobs.list_jobs(actor, JobStatus.RUNNING, limit=DEAD_LETTERS_SHOWN)
        return _page(
            request,
            "jobs.html",
            stats=stats_document(stats),
            statuses=[status.value for status in JobStatus],
            dead_letters=dead.jobs,
            pending=pending.jobs,
            running=running.jobs,
            controls=services.jobs.type_controls(actor),
        )

    @get("/live")
    async def live(self, request: Request[Any, Any, Any]) -> ServerSentEvent:
        return ServerSentEvent(_stats_events(_snapshot(request.app.state)))

    @get("/{job_id:int}")
    def inspect(self, request: Request[Any, Any, Any], services: ServicesDep, job_id: FromPath[int]) -> Template:
        job = services.jobs.get(request.scope["user"], job_id)
        return _page(request, "job.html", job=job, payload=json.dumps(dict(job.payload), indent=2, sort_keys=True))

    @post("/{job_id:int}/replay")
    def replay(
        self, request: Request[Any, Any, Any], services: ServicesDep, job_id: FromPath[int], data: Form
    ) -> Redirect:
        _session(request.app.state).check_csrf(request, data)
        services.jobs.replay(request.scope["user"], job_id)
        _snapshot(request.app.state).invalidate()
        return _back("/console/jobs", f"Job {job_id} replayed: it is pending again with a fresh set of attempts")

    @post("/{job_id:int}/cancel")
    def cancel(
        self, request: Request[Any, Any, Any], services: ServicesDep, job_id: FromPath[int], data: Form
    ) -> Redirect:
        _session(request.app.state).check_csrf(request, data)
        services.jobs.cancel(request.scope["user"], job_id)
        _snapshot(request.app.state).invalidate()
        return _back("/console/jobs", f"Job {job_id} cancelled: it will not run (a running one stops at its heartbeat)")

    @post("/types/{job_type:str}/{action:str}")
    def control(
        self,
        request: Request[Any, Any, Any],
        services: ServicesDep,
        job_type: FromPath[str],
        action: FromPath[str],
        data: Form,
    ) -> Redirect:
        _session(request.app.state).check_csrf(request, data)
        actor = request.scope["user"]
        if action == "pause":
            services.jobs.pause(actor, job_type)
            notice = f"{job_type} paused: no worker claims it until it is resumed"
        elif action == "resume":
            services.jobs.resume(actor, job_type)
            notice = f"{job_type} resumed"
        elif action == "limit":
            raw = data.get("max_running", "").strip()
            if raw and not raw.isdigit():
                raise InvalidInput("max_running must be a whole number (empty removes the limit)", field="max_running")
            limit = int(raw) if raw else None
            services.jobs.set_limit(actor, job_type, limit)
            notice = f"{job_type}: at most {limit} running at once" if limit else f"{job_type}: no limit"
        else:
            raise NotFound(f"no such control: {action}", field="action")
        return _back("/console/jobs", notice)

    @post("/dead-letters/{action:str}")
    def bulk(
        self, request: Request[Any, Any, Any], services: ServicesDep, action: FromPath[str], data: Form
    ) -> Redirect:
        _session(request.app.state).check_csrf(request, data)
        if action not in ("replay", "discard"):
            raise NotFound(f"no such action: {action}", field="action")
        since = data.get("dead_since_hours", "").strip()
        if since and not since.isdigit():
            raise InvalidInput("dead within the last hours must be a whole number", field="dead_since_hours")
        dead = services.jobs.dead_letter_filter(
            job_type=data.get("job_type", "").strip() or None,
            error_contains=data.get("error_contains", "").strip() or None,
            dead_since=services.clock.now() - timedelta(hours=int(since)) if since else None,
        )
        actor = request.scope["user"]
        if action == "replay":
            count = services.jobs.replay_dead_letters(actor, dead)
            notice = f"{count} dead letter{'s' if count != 1 else ''} replayed"
        else:
            count = services.jobs.discard_dead_letters(actor, dead)
            notice = f"{count} dead letter{'s' if count != 1 else ''} discarded"
        _snapshot(request.app.state).invalidate()
        return _back("/console/jobs", notice)

    @post("/test")
    def enqueue_test(self, request: Request[Any, Any, Any], services: ServicesDep, data: Form) -> Redirect:
        _session(request.app.state).check_csrf(request, data)
        fail = data.get("fail") == "on"
        job_id = services.jobs.enqueue(POISON_TEST_JOB, {"fail": fail}, max_attempts=1 if fail else 3)
        _snapshot(request.app.state).invalidate()
        return _back("/console/jobs", f"Test job {job_id} queued ({'fails' if fail else 'succeeds'})")


async def _stats_events(snapshot: QueueSnapshot) -> AsyncIterator[ServerSentEventMessage]:
    last = None
    while True:
        document = stats_document(await asyncio.to_thread(snapshot.jobs))
        if document != last:
            yield ServerSentEventMessage(event="stats", data=json.dumps(document, separators=(",", ":")))
            last = document
        else:
            yield ServerSentEventMessage(comment="keep-alive")
        await asyncio.sleep(LIVE_INTERVAL_SECONDS)


# -- earnings ----------------------------------------------------------------------------------


class EarningsController(Controller):
    path = "/console/earnings"
    guards = [console_guard]
    include_in_schema = False
    opt = {"exclude_from_auth": True}

    @get("/")
    def earnings(self, request: Request[Any, Any, Any], services: ServicesDep) -> Template:
        actor = request.scope["user"]
        creator_id = request.query_params.get("creator_id", "").strip()
        context: dict[str, Any] = {"creator_id": creator_id, "creators": services.earnings.creators(actor)}
        if creator_id:
            cursor = request.query_params.get("cursor") or None
            summaries = services.earnings.summary(actor, creator_id)
            page = services.earnings.timeline(actor, creator_id, cursor=cursor, limit=25)
            context.update(
                summaries=summaries,
                tier=services.earnings.tier(actor, creator_id),
                events=page.events,
                next_cursor=page.next_cursor,
            )
        return _page(request, "earnings.html", money=money, **context)

    @post("/recompute")
    def recompute(self, request: Request[Any, Any, Any], services: ServicesDep, data: Form) -> Redirect:
        _session(request.app.state).check_csrf(request, data)
        creator_id = data.get("creator_id", "").strip()
        report = services.earnings.recompute(request.scope["user"], creator_id)
        if report.corrected:
            fixed = ", ".join(f"{c.currency} ({', '.join(c.differences)})" for c in report.corrections)
            notice = f"Recomputed {report.events} events; corrected {fixed}"
        else:
            notice = f"Recomputed {report.events} events; the stored totals were right"
        return _back("/console/earnings", notice, creator_id=creator_id)


# -- notifications -----------------------------------------------------------------------------


class NotificationsController(Controller):
    path = "/console/notifications"
    guards = [console_guard]
    include_in_schema = False
    opt = {"exclude_from_auth": True}

    @get("/")
    def notifications(self, request: Request[Any, Any, Any], services: ServicesDep) -> Template:
        user_id = request.query_params.get("user_id", "").strip()
        counts = services.notifications.counts(request.scope["user"], user_id) if user_id else None
        return _page(
            request,
            "notifications.html",
            user_id=user_id,
            counts=counts,
            channels=[channel.value for channel in Channel],
            categories=CATEGORIES,
        )

    @get("/live")
    async def live(self, request: Request[Any, Any, Any], services: ServicesDep) -> ServerSentEvent:
        user_id = request.query_params.get("user_id", "").strip()
        if not user_id:
            raise InvalidInput("user_id is required", field="user_id")
        return ServerSentEvent(_count_events(services, request.scope["user"], user_id))

    @post("/send")
    def send(self, request: Request[Any, Any, Any], services: ServicesDep, data: Form) -> Redirect:
        _session(request.app.state).check_csrf(request, data)
        user_id = data.get("user_id", "").strip()
        result = services.notifications.send(
            request.scope["user"],
            user_id,
            data.get("channel", ""),
            data.get("category", ""),
            title=data.get("title", "").strip() or "Test notification",
            body=data.get("body", ""),
            data={"test": True, "from": "console"},
        )
        if result.sent:
            notice = f"Sent {result.notification_id}" + (" (an earlier send with this key)" if result.duplicate else "")
        else:
            notice = f"Not sent: {result.reason.value if result.reason else 'refused'}"
        return _back("/console/notifications", notice, user_id=user_id)


CONTROLLERS: list[type[Controller]] = [SignInController, JobsController, EarningsController, NotificationsController]
