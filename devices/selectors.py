"""Reads of the devices app."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Count, Q
from django.utils import timezone

from .models import Device, DeviceKind, PrintJob, PrintStatus, Terminal

FAILED_JOBS_HOURS = 24
"""The status page counts failed print jobs of the last day: older failures were seen and dealt with."""


def terminal_get(*, code: str) -> Terminal | None:
    return Terminal.objects.filter(code=code).first()


def print_job_get(*, job_id: int) -> PrintJob | None:
    return PrintJob.objects.select_related("terminal").filter(pk=job_id).first()


@dataclass(frozen=True)
class TerminalHealth:
    """One terminal as the status page shows it."""

    terminal: Terminal
    counters: list[str]
    online: bool
    devices: list[Device]
    queued_jobs: int
    failed_jobs: int
    registration_pending: bool


def terminals_health() -> list[TerminalHealth]:
    """Every terminal with the counters it drives, whether its agent is online (a heartbeat within
    MADOGUCHI_TERMINAL_OFFLINE_SECONDS), its devices in a fixed order, and its queued and recently failed jobs."""
    now = timezone.now()
    online_since = now - dt.timedelta(seconds=settings.MADOGUCHI_TERMINAL_OFFLINE_SECONDS)
    failed_since = now - dt.timedelta(hours=FAILED_JOBS_HOURS)
    terminals = (
        Terminal.objects.order_by("code")
        # counter_set: the reverse of counters.Counter.terminal; devices reads it without importing counters.
        .prefetch_related("devices", "counter_set")
        .annotate(
            queued_jobs=Count("print_jobs", filter=Q(print_jobs__status=PrintStatus.QUEUED)),
            failed_jobs=Count(
                "print_jobs",
                filter=Q(print_jobs__status=PrintStatus.FAILED, print_jobs__finished_at__gte=failed_since),
            ),
        )
    )
    order = {kind: index for index, kind in enumerate(DeviceKind.values)}
    return [
        TerminalHealth(
            terminal=terminal,
            counters=sorted(counter.name for counter in terminal.counter_set.all()),
            online=terminal.last_heartbeat_at is not None and terminal.last_heartbeat_at >= online_since,
            devices=sorted(terminal.devices.all(), key=lambda device: order.get(device.kind, len(order))),
            queued_jobs=terminal.queued_jobs,
            failed_jobs=terminal.failed_jobs,
            registration_pending=bool(terminal.registration_code_hash)
            and terminal.registration_expires_at is not None
            and terminal.registration_expires_at > now,
        )
        for terminal in terminals
    ]
