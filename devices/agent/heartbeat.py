"""The agent's heartbeat: every 30 s (``heartbeat_seconds``, MADOGUCHI_HEARTBEAT_SECONDS) one event with the agent's
version and each configured device's status, through the outbox (which keeps only the newest unsent one)."""

from __future__ import annotations

import logging
import threading
import tomllib
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .drivers import DeviceStatus
from .outbox import Outbox

logger = logging.getLogger("devices.agent.heartbeat")

StatusSource = Callable[[], DeviceStatus]


CHECKOUT = Path(__file__).resolve().parents[2]


def agent_version() -> str:
    """The version the agent runs, so the status page shows PCs left behind: pyproject.toml's version of the
    checkout it runs from, with the checkout's commit when it is a git checkout (``0.1.0+3f2c1ab``)."""
    try:
        version = str(tomllib.loads((CHECKOUT / "pyproject.toml").read_text("utf-8"))["project"]["version"])
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        version = "unknown"
    return f"{version}+{commit}" if (commit := _git_commit(CHECKOUT / ".git")) else version


def _git_commit(git: Path) -> str:
    """The short commit a git checkout is at, read from its files (no git program on a counter PC)."""
    try:
        head = (git / "HEAD").read_text().strip()
        if head.startswith("ref: "):
            ref = head[5:]
            loose = git / ref
            if loose.is_file():
                head = loose.read_text().strip()
            else:
                packed = (git / "packed-refs").read_text().splitlines()
                head = next(line.split()[0] for line in packed if line.endswith(" " + ref))
    except (OSError, StopIteration):
        return ""
    return head[:7] if len(head) >= 7 and all(c in "0123456789abcdef" for c in head) else ""


def failure_detail(exc: BaseException) -> str:
    """A failure told without its message, which a driver may have filled with what it read: the exception's
    class, and for an OS error its reason (no file names)."""
    if isinstance(exc, SystemExit):
        return str(exc.code)[:200]  # our own configuration messages (unknown driver setting)
    if isinstance(exc, OSError) and exc.strerror:
        return f"{type(exc).__name__}: {exc.strerror}"
    return type(exc).__name__


def device_status(kind: str, setting: str, open_driver: Callable[[], Any]) -> DeviceStatus:
    """The status of a device the agent opens per command (card reader, printers): open its driver and ask it.
    A driver without a ``status()`` counts as ok (nothing to check); one that raises, as error."""
    driver_name = setting.split(":", 1)[0]
    try:
        driver = open_driver()
        if driver is None:
            return DeviceStatus(kind, driver_name, "absent", "not configured")
        check = getattr(driver, "status", None)
        if check is None:
            return DeviceStatus(kind, driver_name, "ok", "no self-check")
        status = check()
        if not isinstance(status, DeviceStatus):
            raise TypeError(f"{kind} status() returned {type(status).__name__}")
        return status
    except (Exception, SystemExit) as exc:
        return DeviceStatus(kind, driver_name, "error", failure_detail(exc))


class Heartbeat:
    """Puts a heartbeat into the outbox at start and then every ``interval`` seconds until stopped."""

    def __init__(self, outbox: Outbox, sources: list[StatusSource], *, interval: float) -> None:
        self.outbox, self.sources, self.interval = outbox, sources, interval
        self.started_at = datetime.now(UTC).isoformat(timespec="seconds")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def event(self) -> dict[str, Any]:
        devices = []
        for source in self.sources:
            try:
                devices.append(source().as_event())
            except Exception as exc:  # a status source must not stop the heartbeat
                logger.error("heartbeat: a device status failed: %s", failure_detail(exc))
        return {
            "type": "heartbeat",
            "agent": {"version": agent_version(), "started_at": self.started_at},
            "devices": devices,
        }

    def beat(self) -> None:
        self.outbox.put(self.event())

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="agent-heartbeat", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        while True:
            try:
                self.beat()
            except Exception as exc:  # e.g. the state folder is full: logged, tried again next time
                logger.error("heartbeat not written: %s", failure_detail(exc))
            if self._stop.wait(self.interval):
                return
