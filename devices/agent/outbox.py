"""The agent's durable outbox: every event for the web API is first a file, then sent, so none is lost while the
server is unreachable or the agent restarts.

``<state_dir>/outbox/<time ns>-<id>.<class>.json``, written atomically with mode 0600, holding the event plus
``"id"`` (a uuid hex the server uses to de-duplicate a resend). One sender at a time (a lock per outbox) sends the
files in name order — the order they were written — and deletes each after a 200. While the server is unreachable
or answers 5xx the sender backs off, 0.5 s doubling to 60 s, and keeps the files. A refusal (400/403/404) cannot
be cured by resending: the event is logged and moved to ``outbox/refused/`` for the operator, who has
REFUSED_KEEP_DAYS (7) to look before it is deleted (a qr.scanned event may hold a resident's 宛名番号).

Event classes (the file name's middle part) set what is kept:

- ``card``: card.read holds the individual number and the card's data. The file is deleted as soon as it is
  delivered, deleted (not kept in refused/) when refused, and dropped unsent when older than 10 minutes: by then
  the session on the server has given up on the read.
- ``tap``: staff.tapped, dropped unsent after 2 minutes (a tap long ago must not open a PIN prompt now) and not
  kept when refused.
- ``heartbeat``: only the newest unsent heartbeat is kept; a refused one is dropped.
- ``event``: everything else (print.done, qr.scanned …).
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

from .client import JobRefused
from .config import AgentConfig, private_file_write

logger = logging.getLogger("devices.agent.outbox")

CARD_TYPES = frozenset({"card.read", "card.failed", "card.probed"})
CARD_MAX_AGE_SECONDS = 600
TAP_MAX_AGE_SECONDS = 120  # a staff card tapped minutes ago must not open a PIN prompt now
MAX_AGE_SECONDS = {"card": CARD_MAX_AGE_SECONDS, "tap": TAP_MAX_AGE_SECONDS}
REFUSED_KEEP_DAYS = 7
BACKOFF_FIRST_SECONDS = 0.5
BACKOFF_MAX_SECONDS = 60.0
IDLE_CHECK_SECONDS = 5.0  # a sender with nothing to do looks again this often (a put wakes it at once)

Send = Callable[[dict[str, Any]], None]


def _event_class(kind: str) -> str:
    if kind in CARD_TYPES:
        return "card"
    if kind == "staff.tapped":
        return "tap"
    return "heartbeat" if kind == "heartbeat" else "event"


class Outbox:
    """The files of one state folder and their sender. ``send`` posts one event and raises JobRefused for a
    refusal and requests' errors for anything worth retrying (ServerClient.event)."""

    def __init__(self, folder: Path, send: Send, *, clock: Callable[[], float] = time.time) -> None:
        self.folder, self.refused = folder, folder / "refused"
        self.send, self.clock = send, clock
        self._sending = threading.Lock()
        self._naming = threading.Lock()
        self._last_ns = 0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- writing ---------------------------------------------------------------------------------------------

    def put(self, event: dict[str, Any]) -> str:
        """Write ``event`` (a dict with ``type``) to the outbox and wake the sender; returns its id."""
        kind = event.get("type")
        if not isinstance(kind, str) or not kind:
            raise ValueError(f"an event needs a type: {sorted(event)}")
        event_id = uuid.uuid4().hex
        event_class = _event_class(kind)
        with self._naming:
            # Strictly increasing even where the clock is coarse (Windows: ~15 ms), so names keep the order.
            self._last_ns = max(time.time_ns(), self._last_ns + 1)
            name = f"{self._last_ns:020d}-{event_id}.{event_class}.json"
            if event_class == "heartbeat":
                for older in self.folder.glob("*.heartbeat.json"):
                    older.unlink(missing_ok=True)
        private_file_write(
            self.folder / name, json.dumps({**event, "id": event_id}, ensure_ascii=False).encode()
        )
        self._wake.set()
        return event_id

    def post(self, event: dict[str, Any]) -> str:
        """Put ``event`` and try to send now, in this thread, unless another thread is sending already: a command
        reports at once even where no sender thread runs. Never raises for the network: the file stays."""
        event_id = self.put(event)
        self.flush(wait=False)
        return event_id

    def pending(self) -> list[Path]:
        return sorted(self.folder.glob("*.json"))

    # --- sending ---------------------------------------------------------------------------------------------

    def flush(self, *, wait: bool = True) -> bool:
        """Send every pending event in order. False when the server could not be reached (or answered 5xx): the
        rest waits for the next try. With ``wait=False`` another thread's ongoing send is left to finish the job."""
        if not self._sending.acquire(blocking=wait):
            return True
        try:
            self._prune_refused()
            return all(self._send_one(path) for path in self.pending())  # stops at the first failure
        finally:
            self._sending.release()

    def _send_one(self, path: Path) -> bool:
        event_class = path.name.rsplit(".", 2)[-2]
        try:
            payload = json.loads(path.read_bytes())
            if not isinstance(payload, dict):
                raise ValueError("not a JSON object")
        except FileNotFoundError:
            return True  # a heartbeat replaced by a newer one meanwhile
        except ValueError as exc:
            logger.error("outbox file %s is unreadable (%s): moved to refused/", path.name, exc)
            self._move_to_refused(path)
            return True
        event_id, kind = payload.get("id", "?"), payload.get("type", "?")
        max_age = MAX_AGE_SECONDS.get(event_class)
        if max_age is not None and self.clock() - int(path.name.split("-", 1)[0]) / 1e9 > max_age:
            logger.warning("event %s (%s) dropped unsent: older than %s s", event_id, kind, max_age)
            path.unlink(missing_ok=True)
            return True
        try:
            self.send(payload)
        except JobRefused as refused:
            logger.error("event %s (%s) refused by the server: %s", event_id, kind, refused)
            if event_class == "event":
                self._move_to_refused(path)
            else:
                path.unlink(
                    missing_ok=True
                )  # card data is not kept; a heartbeat or a tap is worthless by now
            return True
        except requests.RequestException as exc:
            status = getattr(exc.response, "status_code", None)
            logger.warning(
                "event %s (%s) not delivered (%s), kept for a retry",
                event_id,
                kind,
                f"HTTP {status}" if status else type(exc).__name__,
            )
            return False
        path.unlink(missing_ok=True)
        return True

    def _prune_refused(self) -> None:
        """Delete refused events older than REFUSED_KEEP_DAYS (by the time in their name)."""
        cutoff_ns = (self.clock() - REFUSED_KEEP_DAYS * 86400) * 1e9
        for path in self.refused.glob("*.json"):
            stamp = path.name.split("-", 1)[0]
            if not stamp.isdigit() or int(stamp) < cutoff_ns:
                path.unlink(missing_ok=True)

    def _move_to_refused(self, path: Path) -> None:
        self.refused.mkdir(parents=True, exist_ok=True)
        path.replace(self.refused / path.name)

    # --- the sender thread -----------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the sender thread (once): it sends what an earlier run left, then whatever is put."""
        if self._thread is not None and self._thread.is_alive():
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        for leftover in self.folder.glob(".*.part"):
            leftover.unlink(missing_ok=True)  # a write interrupted by a crash: never complete, never sent
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="agent-outbox", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        delay = BACKOFF_FIRST_SECONDS
        while not self._stop.is_set():
            self._wake.clear()
            try:
                delivered = self.flush(wait=True)
            except Exception:  # a full disk, a permission problem …: logged, and the sender keeps going
                logger.exception("outbox: sending failed")
                delivered = False
            if delivered:
                delay = BACKOFF_FIRST_SECONDS
                self._wake.wait(IDLE_CHECK_SECONDS)
            else:
                self._stop.wait(delay)
                delay = min(BACKOFF_MAX_SECONDS, delay * 2)


_OUTBOXES: dict[tuple[object, ...], Outbox] = {}
_OUTBOXES_LOCK = threading.Lock()


def agent_outbox(config: AgentConfig) -> Outbox:
    """The process's outbox for this configuration, shared by the commands, the watchers and the heartbeat, so
    that one lock orders their sends."""
    from .client import ServerClient

    key = (config.state_dir.resolve(), config.server_url, config.terminal, config.secret)
    with _OUTBOXES_LOCK:
        if key not in _OUTBOXES:
            _OUTBOXES[key] = Outbox(config.state_dir / "outbox", ServerClient(config).event)
        return _OUTBOXES[key]
