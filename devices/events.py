"""Device events from the agents, handed to the apps that know what they mean.

``devices`` carries events; it does not know what a card read means. An app registers a handler per event type
(``counters`` handles ``card.read``, ``card.failed`` and ``qr.scanned``). A handler gets the authenticated terminal
and the event, and returns a small JSON answer for the agent, or raises ``EventRefused`` with the reason.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .models import Terminal

EventHandler = Callable[[Terminal, Mapping[str, Any]], dict[str, Any]]

_HANDLERS: dict[str, EventHandler] = {}


def event_handler_register(kind: str, handler: EventHandler) -> None:
    """Register ``handler`` for events of type ``kind``; registering a kind twice replaces the handler."""
    _HANDLERS[kind] = handler


def event_handler(kind: str) -> EventHandler | None:
    return _HANDLERS.get(kind)


PrintJobListener = Callable[[Any], None]
_PRINT_LISTENERS: list[PrintJobListener] = []


def print_job_changed_subscribe(listener: PrintJobListener) -> None:
    """Call ``listener(job)`` whenever a print job's status changes (printed, failed)."""
    if listener not in _PRINT_LISTENERS:
        _PRINT_LISTENERS.append(listener)


def print_job_changed(job: Any) -> None:
    for listener in _PRINT_LISTENERS:
        listener(job)
