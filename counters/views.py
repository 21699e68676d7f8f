"""The clerk screen of the walking skeleton: open a session, find the resident, view the form, finish."""

from __future__ import annotations

import time
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from devices.selectors import print_job_get
from intake.selectors import ResidentQuery, SearchInvalid, resident_search
from madoguchi.accounts.roles import Role, role_required
from madoguchi.responses import inline_pdf

from . import selectors, services
from .forms import ResidentSearchForm
from .models import Counter, CounterSession

clerk_required = role_required(Role.CLERK)
LONG_POLL_SECONDS = 20.0


def _own_session(request: HttpRequest, reception_no: str) -> CounterSession:
    """The session, only for the clerk working it (one clerk per session)."""
    return get_object_or_404(
        CounterSession.objects.select_related("counter__terminal"),
        reception_no=reception_no,
        clerk=request.user,
    )


@login_required
@clerk_required
def home(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "counters/home.html",
        {
            "counters": selectors.counters_all(),
            "open_sessions": selectors.counter_sessions_open(clerk=request.user),
        },
    )


@require_POST
@login_required
@clerk_required
def session_open(request: HttpRequest) -> HttpResponse:
    counter = get_object_or_404(Counter, code=request.POST.get("counter", ""))
    session = services.counter_session_open(counter=counter, clerk=request.user)
    return redirect("counters:session", reception_no=session.reception_no)


@login_required
@clerk_required
def session_detail(request: HttpRequest, reception_no: str) -> HttpResponse:
    session = _own_session(request, reception_no)
    form = ResidentSearchForm(request.GET or None)
    results = None
    if form.is_valid() and any(form.cleaned_data.values()):
        try:
            results = resident_search(
                actor=request.user, query=ResidentQuery(**form.cleaned_data), page=request.GET.get("page", 1)
            )
        except SearchInvalid as invalid:
            form.add_error(None, str(invalid))
    resident, household = selectors.session_resident_view(session=session, actor=request.user)
    return render(
        request,
        "counters/session.html",
        {
            "session": session,
            "form": form,
            "results": results,
            "resident": resident,
            "household": household,
            "print_job": session.print_job,
            "query_string": urlencode({k: v for k, v in form.cleaned_data.items() if v}) if results else "",
        },
    )


@require_POST
@login_required
@clerk_required
def session_identify(request: HttpRequest, reception_no: str) -> HttpResponse:
    session = _own_session(request, reception_no)
    try:
        services.counter_session_identify(
            session=session, atena_no=request.POST.get("atena_no", ""), actor=request.user
        )
    except services.SessionError as error:
        messages.error(request, str(error))
    return redirect("counters:session", reception_no=reception_no)


@require_GET
@login_required
@clerk_required
def session_form_pdf(request: HttpRequest, reception_no: str) -> HttpResponse:
    session = _own_session(request, reception_no)
    try:
        pdf = services.counter_session_form_pdf(session=session, actor=request.user)
    except services.SessionError as error:
        return HttpResponse(str(error), status=409, content_type="text/plain; charset=utf-8")
    return inline_pdf(pdf, filename=f"{session.reception_no}.pdf")


@require_POST
@login_required
@clerk_required
def session_finish(request: HttpRequest, reception_no: str) -> HttpResponse:
    session = _own_session(request, reception_no)
    try:
        services.counter_session_finish(session=session, actor=request.user)
    except services.SessionError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, _("受付を完了し、印刷を依頼しました。"))
    return redirect("counters:session", reception_no=reception_no)


@require_GET
@login_required
@clerk_required
def session_print_status(request: HttpRequest, reception_no: str) -> JsonResponse:
    """Long poll: answers as soon as the print job's status differs from ``known``, or after 20 s."""
    session = _own_session(request, reception_no)
    known = request.GET.get("known", "")
    deadline = time.monotonic() + LONG_POLL_SECONDS
    while True:
        session.refresh_from_db(fields=["print_job"])
        job = print_job_get(job_id=session.print_job_id) if session.print_job_id else None
        status = job.status if job else ""
        if status != known or time.monotonic() >= deadline:
            break
        time.sleep(0.25)
    return JsonResponse(
        {
            "status": status,
            "label": job.get_status_display() if job else "",
            "message": job.message if job else "",
        }
    )
