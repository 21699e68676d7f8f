"""What runs beside the agent's commands while its worker runs: the outbox sender, the heartbeat and the device
watchers. Started on Celery's ``worker_ready`` and stopped on ``worker_shutdown`` (devices/agent/app.py)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from .config import AgentConfig
from .drivers import a4_printer, card_reader
from .heartbeat import Heartbeat, StatusSource, device_status
from .outbox import Outbox, agent_outbox
from .watchers import DeviceWatcher, qr_watcher, staff_watcher

logger = logging.getLogger("devices.agent")


@dataclass
class AgentRuntime:
    outbox: Outbox
    heartbeat: Heartbeat
    watchers: list[DeviceWatcher]

    def stop(self) -> None:
        for watcher in self.watchers:
            watcher.stop()
        self.heartbeat.stop()
        self.outbox.stop()


def _receipt_printer(config: AgentConfig) -> Any:
    from .receipt import receipt_printer

    return receipt_printer(config)


def runtime_build(config: AgentConfig) -> AgentRuntime:
    """The threads for ``config`` (not started): a watcher per configured watched device, and a heartbeat
    reporting every configured device."""
    outbox = agent_outbox(config)
    watchers = []
    if config.qr_scanner != "none":
        watchers.append(qr_watcher(config, outbox.put))
    if config.staff_reader != "none":
        watchers.append(staff_watcher(config, outbox.put))
    sources: list[StatusSource] = []
    if config.card_reader != "none":
        sources.append(lambda: device_status("card_reader", config.card_reader, lambda: card_reader(config)))
    if config.receipt_printer != "none":
        sources.append(
            lambda: device_status("receipt_printer", config.receipt_printer, lambda: _receipt_printer(config))
        )
    sources.append(lambda: device_status("a4_printer", config.printer, lambda: a4_printer(config)))
    sources.extend(watcher.status for watcher in watchers)
    return AgentRuntime(outbox, Heartbeat(outbox, sources, interval=config.heartbeat_seconds), watchers)


_RUNNING: AgentRuntime | None = None


def runtime_start(config: AgentConfig) -> AgentRuntime:
    global _RUNNING
    if _RUNNING is None:
        _RUNNING = runtime_build(config)
        _RUNNING.outbox.start()
        _RUNNING.heartbeat.start()
        for watcher in _RUNNING.watchers:
            watcher.start()
        logger.info(
            "agent %s: outbox, heartbeat every %s s, watchers: %s",
            config.terminal,
            config.heartbeat_seconds,
            ", ".join(w.kind for w in _RUNNING.watchers) or "none",
        )
    return _RUNNING


def runtime_stop() -> None:
    global _RUNNING
    if _RUNNING is not None:
        _RUNNING.stop()
        _RUNNING = None
