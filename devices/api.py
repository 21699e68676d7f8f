"""The web API the agents call. Every request but registration is signed with the terminal's secret
(devices.signing) and used once (its nonce is remembered)."""

from __future__ import annotations

import json
from typing import Any

from django.http import FileResponse, HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from madoguchi.throttle import over_limit

from . import services
from .events import event_handler
from .models import PrintKind, PrintStatus


def _terminal(request: HttpRequest) -> services.Terminal:
    return services.terminal_authenticate(
        headers=request.headers, method=request.method or "", path=request.path, body=request.body
    )


def _too_many(wait: int, message: str) -> JsonResponse:
    response = JsonResponse({"error": message}, status=429)
    response["Retry-After"] = str(wait)
    return response


def _json_object(body: bytes) -> dict[str, Any]:
    value = json.loads(body)
    if not isinstance(value, dict):
        raise TypeError("expected a JSON object")
    return value


@csrf_exempt  # machine-to-machine: the one-time code is the credential
@require_POST
def register(request: HttpRequest) -> HttpResponse:
    """``{"terminal": <code>, "code": <one-time code>}`` → ``{"terminal": <code>, "secret": <secret>}``, once.
    Unsigned: the agent has no secret yet."""
    try:
        data = _json_object(request.body)
        terminal_code, code = data["terminal"], data["code"]
        if not isinstance(terminal_code, str) or not isinstance(code, str):
            raise TypeError("terminal and code are strings")
    except (ValueError, KeyError, TypeError) as exc:
        return JsonResponse({"error": f"malformed registration: {exc}"}, status=400)
    if wait := over_limit("register", terminal_code[:64]):
        return _too_many(wait, "too many registration attempts for this terminal; wait and try again")
    try:
        terminal, secret = services.terminal_register(terminal_code=terminal_code, code=code)
    except services.RegistrationRefused as refused:
        return JsonResponse({"error": str(refused)}, status=403)
    response = JsonResponse({"terminal": terminal.code, "secret": secret})
    response["Cache-Control"] = "no-store"
    return response


def _queued_job(request: HttpRequest, job_id: int, kind: PrintKind) -> services.PrintJob | JsonResponse:
    """This terminal's queued job of ``kind``, or the refusal to answer with."""
    try:
        job = services.print_job_for_terminal(terminal=_terminal(request), job_id=job_id)
    except services.EventRefused as refused:
        return JsonResponse({"error": str(refused)}, status=403)
    if job.kind != kind:
        return JsonResponse({"error": f"print job {job_id} is not a {kind.value!r} job"}, status=404)
    if job.status != PrintStatus.QUEUED:
        return JsonResponse({"error": f"job {job_id} is {job.status}"}, status=410)
    return job


@require_GET
def print_job_pdf(request: HttpRequest, job_id: int) -> HttpResponseBase:
    """The PDF of a job for the agent to print; 410 when it is no longer queued (already printed)."""
    job = _queued_job(request, job_id, PrintKind.A4)
    if isinstance(job, JsonResponse):
        return job
    try:
        return FileResponse(job.pdf.open("rb"), content_type="application/pdf")
    except (FileNotFoundError, ValueError):
        services.print_job_fail(job=job, message="印刷データが見つかりません。もう一度印刷してください。")
        return JsonResponse({"error": f"job {job_id} has lost its PDF"}, status=410)


@require_GET
def print_job_receipt(request: HttpRequest, job_id: int) -> HttpResponse:
    """The receipt of a job for the agent's receipt printer; 410 when it is no longer queued."""
    job = _queued_job(request, job_id, PrintKind.RECEIPT)
    if isinstance(job, JsonResponse):
        return job
    return JsonResponse(job.receipt)


def _handle(terminal: services.Terminal, event: dict[str, Any]) -> dict[str, Any] | None:
    """Run the event's handler; None when its type is unknown."""
    kind = event["type"]
    if kind in {"print.done", "print.failed"}:
        job = services.print_job_report(
            terminal=terminal,
            job_id=int(event["job"]),
            ok=kind == "print.done",
            message=str(event.get("message", "")),
        )
        return {"job": job.pk, "status": job.status}
    if kind == "heartbeat":
        return services.terminal_heartbeat(terminal, event)
    handler = event_handler(str(kind))
    return None if handler is None else handler(terminal, event)


class _UnknownType(Exception):
    pass


@csrf_exempt  # machine-to-machine: authenticated by the HMAC signature, not a browser session
@require_POST
def agent_event(request: HttpRequest) -> HttpResponse:
    """An event from an agent: ``print.done`` / ``print.failed`` (``{"job": <id>, "message": …}``),
    ``heartbeat``, or a device event (``card.read``, ``qr.scanned`` …) handed to the handler an app registered for
    it (devices.events). An event with an ``id`` is handled once: sent again, it gets the first answer."""

    def handle() -> dict[str, Any]:
        answer = _handle(terminal, event)
        if answer is None:
            raise _UnknownType(event["type"])
        return answer

    try:
        terminal = _terminal(request)
        if wait := over_limit("agent_event", terminal.code):
            return _too_many(wait, "too many events from this terminal; send them again later")
        event = _json_object(request.body)
        if "type" not in event:
            raise KeyError("type")
        return JsonResponse(services.agent_event_once(terminal=terminal, event=event, handle=handle))
    except _UnknownType as unknown:
        return JsonResponse({"error": f"unknown event type {unknown.args[0]!r}"}, status=400)
    except services.EventRefused as refused:
        return JsonResponse({"error": str(refused)}, status=403)
    except (ValueError, KeyError, TypeError) as exc:
        return JsonResponse({"error": f"malformed event: {exc}"}, status=400)
