"""The web API the agents call. Every request is signed with the terminal's secret (devices.signing)."""

from __future__ import annotations

import json

from django.http import FileResponse, HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from . import services
from .events import event_handler
from .models import PrintStatus


def _terminal(request: HttpRequest) -> services.Terminal:
    return services.terminal_authenticate(
        headers=request.headers, method=request.method or "", path=request.path, body=request.body
    )


@require_GET
def print_job_pdf(request: HttpRequest, job_id: int) -> HttpResponseBase:
    """The PDF of a job for the agent to print; 410 when it is no longer queued (already printed)."""
    try:
        job = services.print_job_for_terminal(terminal=_terminal(request), job_id=job_id)
    except services.EventRefused as refused:
        return JsonResponse({"error": str(refused)}, status=403)
    if job.status != PrintStatus.QUEUED:
        return JsonResponse({"error": f"job {job_id} is {job.status}"}, status=410)
    try:
        return FileResponse(job.pdf.open("rb"), content_type="application/pdf")
    except (FileNotFoundError, ValueError):
        services.print_job_fail(job=job, message="印刷データが見つかりません。もう一度印刷してください。")
        return JsonResponse({"error": f"job {job_id} has lost its PDF"}, status=410)


@csrf_exempt  # machine-to-machine: authenticated by the HMAC signature, not a browser session
@require_POST
def agent_event(request: HttpRequest) -> HttpResponse:
    """An event from an agent: ``{"type": "print.done" | "print.failed", "job": <id>, "message": …}``, or a device
    event (``card.read``, ``qr.scanned`` …) handed to the handler an app registered for it (devices.events)."""
    try:
        terminal = _terminal(request)
        event = json.loads(request.body)
        if not isinstance(event, dict):
            raise TypeError("an event is a JSON object")
        kind = event["type"]
        if kind in {"print.done", "print.failed"}:
            job = services.print_job_report(
                terminal=terminal,
                job_id=int(event["job"]),
                ok=kind == "print.done",
                message=str(event.get("message", "")),
            )
            return JsonResponse({"job": job.pk, "status": job.status})
        handler = event_handler(str(kind))
        if handler is None:
            return JsonResponse({"error": f"unknown event type {kind!r}"}, status=400)
        return JsonResponse(handler(terminal, event))
    except services.EventRefused as refused:
        return JsonResponse({"error": str(refused)}, status=403)
    except (ValueError, KeyError, TypeError) as exc:
        return JsonResponse({"error": f"malformed event: {exc}"}, status=400)
