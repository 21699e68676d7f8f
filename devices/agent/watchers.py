"""Device watchers: threads that wait on a device the resident or clerk uses without a command — the QR scanner
(serial) and the staff card reader — and post what happens as events through the outbox.

A driver that raises is logged (its class and OS reason only: a driver's message may hold what it read), reported
as error in the next heartbeat, closed and opened again with back-off (0.5 s doubling to 60 s). The watcher never
dies while the agent runs.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from .config import AgentConfig
from .drivers import DeviceStatus
from .heartbeat import failure_detail

logger = logging.getLogger("devices.agent.watchers")

POLL_SECONDS = 1.0  # how long one read waits, so that stop() is seen within about a second
BACKOFF_FIRST_SECONDS = 0.5
BACKOFF_MAX_SECONDS = 60.0

Poll = Callable[[Any], "dict[str, Any] | None"]


class DeviceWatcher:
    """Opens a driver with ``open_driver`` and calls ``poll(driver)`` in a loop; a non-None result is an event
    for ``put``."""

    def __init__(
        self,
        *,
        kind: str,
        setting: str,
        open_driver: Callable[[], Any],
        poll: Poll,
        put: Callable[[dict[str, Any]], object],
    ) -> None:
        self.kind, self.driver_name = kind, setting.split(":", 1)[0]
        self.open_driver, self.poll, self.put = open_driver, poll, put
        self._driver: Any = None
        self._error: str | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"agent-{self.kind}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def status(self) -> DeviceStatus:
        """For the heartbeat: an error since the last heartbeat is reported once, even if the driver has been
        reopened meanwhile; otherwise the driver's own status."""
        with self._lock:
            error, driver = self._error, self._driver
            if error is not None and driver is not None:
                self._error = None
        if error is not None:
            return DeviceStatus(self.kind, self.driver_name, "error", error)
        if driver is None:
            return DeviceStatus(self.kind, self.driver_name, "absent", "not opened yet")
        try:
            status = driver.status()
            if not isinstance(status, DeviceStatus):
                raise TypeError(f"status() returned {type(status).__name__}")
            return status
        except Exception as exc:
            return DeviceStatus(self.kind, self.driver_name, "error", failure_detail(exc))

    def _failed(self, what: str, exc: BaseException, delay: float) -> None:
        detail = f"{what}: {failure_detail(exc)}"
        logger.error("%s watcher: %s; trying again in %.1f s", self.kind, detail, delay)
        with self._lock:
            self._error = detail
            driver, self._driver = self._driver, None
        close = getattr(driver, "close", None)
        if close is not None:
            try:
                close()
            except Exception as close_failed:
                logger.warning("%s watcher: close failed: %s", self.kind, failure_detail(close_failed))

    def _run(self) -> None:
        delay = BACKOFF_FIRST_SECONDS
        while not self._stop.is_set():
            if self._driver is None:
                try:
                    driver = self.open_driver()
                except (Exception, SystemExit) as exc:
                    self._failed("cannot open the device", exc, delay)
                    self._stop.wait(delay)
                    delay = min(BACKOFF_MAX_SECONDS, delay * 2)
                    continue
                if driver is None:
                    logger.info("%s watcher: not configured", self.kind)
                    return
                with self._lock:
                    self._driver = driver
            try:
                event = self.poll(self._driver)
            except Exception as exc:
                self._failed("the device failed", exc, delay)
                self._stop.wait(delay)
                delay = min(BACKOFF_MAX_SECONDS, delay * 2)
                continue
            delay = BACKOFF_FIRST_SECONDS
            if event is not None:
                try:
                    self.put(event)
                except Exception as exc:  # the state folder: the event is lost, the watcher is not
                    logger.error("%s watcher: event not written: %s", self.kind, failure_detail(exc))
        with self._lock:
            driver, self._driver = self._driver, None
        close = getattr(driver, "close", None)
        if close is not None:
            close()


def qr_poll(unreadable: type[Exception]) -> Poll:
    """One scan: ``qr.scanned`` with the text, ``qr.failed`` with the reason for an unreadable code. The payload
    may be personal (an 宛名番号): it is posted, never logged."""

    def poll(scanner: Any) -> dict[str, Any] | None:
        try:
            text = scanner.read(POLL_SECONDS)
        except unreadable as exc:
            logger.info("qr_scanner: an unreadable scan")
            return {"type": "qr.failed", "reason": str(exc)[:200]}
        return None if text is None else {"type": "qr.scanned", "payload": text}

    return poll


def staff_poll(reader: Any) -> dict[str, Any] | None:
    """One tap: ``staff.tapped`` with the card's ID (uppercase hex)."""
    card_id = reader.wait_for_tap(POLL_SECONDS)
    return None if card_id is None else {"type": "staff.tapped", "card_id": str(card_id).upper()}


def qr_watcher(config: AgentConfig, put: Callable[[dict[str, Any]], object]) -> DeviceWatcher:
    def open_scanner() -> Any:
        # Imported here: a missing or broken driver module is a device error in the heartbeat, not a crash.
        from .qr_scanner import qr_scanner

        return qr_scanner(config)

    def poll(scanner: Any) -> dict[str, Any] | None:
        from .qr_scanner import QrUnreadable

        return qr_poll(QrUnreadable)(scanner)

    return DeviceWatcher(
        kind="qr_scanner", setting=config.qr_scanner, open_driver=open_scanner, poll=poll, put=put
    )


def staff_watcher(config: AgentConfig, put: Callable[[dict[str, Any]], object]) -> DeviceWatcher:
    def open_reader() -> Any:
        from .cards.staff import staff_reader

        return staff_reader(config)

    return DeviceWatcher(
        kind="staff_reader", setting=config.staff_reader, open_driver=open_reader, poll=staff_poll, put=put
    )
