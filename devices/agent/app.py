"""The agent's Celery app and its commands. Task arguments carry no personal data; read_card's secret (PIN …)
lives only in its message, never logged or kept. Every report goes through the durable outbox.

``fixups=[]``: the agent runs without Django, so Celery's Django fix-up must not set it up.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

import requests
from celery import Celery, Task
from celery.signals import worker_ready, worker_shutdown

from devices import signing

from . import broker, runtime
from .client import JobRefused, ServerClient
from .config import AgentConfig
from .drivers import A4Printer, CardFailed, CardReader, PrintFailed, a4_printer, card_reader
from .journal import PrintJournal
from .outbox import agent_outbox

logger = logging.getLogger("devices.agent")

agent_app = Celery("madoguchi-agent", fixups=[])
agent_app.conf.update(
    broker_url=broker.broker_url(),
    broker_transport_options=broker.broker_transport_options(broker.broker_url()),
    task_ignore_result=True,
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    worker_hijack_root_logger=False,
)


def _backoff(retries: int) -> int:
    """Seconds before a command's next try: 1, 2, 4 … 32, then 60, without limit."""
    return min(60, 2 ** min(retries, 6))


def _a4_printer(config: AgentConfig) -> A4Printer:
    try:
        return a4_printer(config)
    except SystemExit as exc:
        raise PrintFailed(str(exc.code)[:200]) from None


def _card_reader(config: AgentConfig) -> CardReader:
    """The configured reader; a setting it cannot use is the reader's failure here, not the worker's exit (the
    agent checks its settings at start, so this is a file edited while it runs)."""
    try:
        return card_reader(config)
    except SystemExit as exc:
        raise CardFailed("reader_error", str(exc.code)[:200]) from None


@agent_app.task(name="devices.agent.print_pdf", bind=True, max_retries=None)
def print_pdf(self: Task, *, job_id: int) -> None:
    """Fetch the job's PDF, print it once, report the outcome through the outbox.

    Delivered twice, or retried after the report was lost, the job is confirmed without printing again: the
    server answers 410 for a finished job, and the local journal remembers what was printed.
    """
    config = AgentConfig.from_env()
    client = ServerClient(config)
    outbox = agent_outbox(config)
    journal = PrintJournal(config.state_dir)
    try:
        pdf = client.print_job_pdf(job_id)
        if pdf is None:
            logger.info("print job %s: finished already", job_id)
            return
        if not journal.printed(job_id, pdf):
            try:
                where = _a4_printer(config).print_pdf(name=f"job-{job_id}.pdf", pdf=pdf)
            except PrintFailed as failed:
                logger.error("print job %s: the printer failed: %s", job_id, failed)
                outbox.post({"type": "print.failed", "job": job_id, "message": str(failed)})
                return
            journal.record(job_id, pdf)
            logger.info("print job %s printed (%s)", job_id, where)
        outbox.post({"type": "print.done", "job": job_id})
        journal.prune()
    except JobRefused as refused:
        # Not retried: a wrong secret or clock must be fixed on this PC. The server fails the job at its
        # redispatch limit, or after MADOGUCHI_PRINT_WAIT_HOURS if the terminal looks offline, so the clerk sees
        # 印刷失敗 rather than waiting forever.
        logger.error("print job %s refused by the server: %s", job_id, refused)
    except requests.RequestException as exc:
        # The server is unreachable or failing: retry with back-off; the job stays queued on the server.
        raise self.retry(exc=exc, countdown=_backoff(self.request.retries)) from exc


@agent_app.task(name="devices.agent.print_receipt", bind=True, max_retries=None)
def print_receipt(self: Task, *, job_id: int) -> None:
    """Fetch the job's receipt (a ticket, a receipt: ``{"title", "lines", "qr", "cut"}``), print it once on the
    receipt printer, report the outcome through the outbox.

    The printer offline (PrintFailed) retries the task with back-off, without limit: the job stays 印刷待ち on the
    server and prints once the printer is back. Once printed, the journal (keyed by the receipt JSON's hash)
    keeps a redelivered or retried command from printing it again. A receipt the printer module rejects
    (ValueError: malformed) is reported as print.failed.
    """
    from .receipt import receipt_printer  # the ESC/POS driver (python-escpos) loads only where receipts print

    config = AgentConfig.from_env()
    client = ServerClient(config)
    outbox = agent_outbox(config)
    journal = PrintJournal(config.state_dir)
    try:
        receipt = client.receipt_job(job_id)
        if receipt is None:
            logger.info("receipt job %s: finished already", job_id)
            return
        content = json.dumps(receipt, sort_keys=True, ensure_ascii=False).encode()
        if not journal.printed(job_id, content):
            try:
                printer = receipt_printer(config)
                where = printer.print_receipt(name=f"receipt-{job_id}", receipt=receipt)
            except SystemExit as unusable:  # a setting edited while the agent runs
                logger.error("receipt job %s: %s", job_id, unusable.code)
                outbox.post({"type": "print.failed", "job": job_id, "message": str(unusable.code)[:500]})
                return
            except ValueError as malformed:
                logger.error("receipt job %s: not printable: %s", job_id, malformed)
                outbox.post({"type": "print.failed", "job": job_id, "message": str(malformed)[:500]})
                return
            journal.record(job_id, content)
            logger.info("receipt job %s printed (%s)", job_id, where)
        outbox.post({"type": "print.done", "job": job_id})
        journal.prune()
    except PrintFailed as offline:
        countdown = _backoff(self.request.retries)
        logger.warning(
            "receipt job %s: the printer failed (%s); retrying in %s s", job_id, offline, countdown
        )
        raise self.retry(exc=offline, countdown=countdown) from offline
    except JobRefused as refused:
        logger.error("receipt job %s refused by the server: %s", job_id, refused)
    except requests.RequestException as exc:
        raise self.retry(exc=exc, countdown=_backoff(self.request.retries)) from exc


# acks_late off: a card command redelivered after a crash must not VERIFY a second time (a PIN try is precious).
@agent_app.task(name="devices.agent.read_card", max_retries=0, acks_late=False)
def read_card(*, request_id: str, kind: str, sealed_pin: str = "", **unknown: Any) -> None:
    """Read the card in this terminal's reader with the secret the resident typed on the tablet (PIN, 照合番号B,
    or the residence card's number, by ``kind``: mynumber, mynumber_b, licence, residence), once.

    The secret arrives sealed for this terminal and this request (devices.signing.seal) and is opened only here:
    it is not logged, not retried (a wrong PIN must never be tried again by a machine), and not in the event sent
    back, which carries the card's data or the reason it failed. A seal that does not open (another terminal's
    command, a forged or damaged one) or a request read before (a replay) reads nothing and answers
    ``bad_command``; a command past the time limit in its seal answers ``expired``. The event goes through the
    outbox (devices/agent/outbox.py), which deletes it once delivered and drops it unsent after 10 minutes.
    A command of another version (an unsealed ``pin`` from a server not yet upgraded) is refused the same way,
    never used and never echoed (``unknown`` is dropped unread).
    """
    config = AgentConfig.from_env()
    unknown.clear()

    def refuse(reason: str, why: str) -> None:
        logger.error("card read %s: %s; the card was not read", request_id, why)
        agent_outbox(config).post(
            {"type": "card.failed", "request": request_id, "reason": reason, "retries_left": None}
        )

    try:
        until, pin = signing.card_command_open(
            config.secret, sealed_pin, terminal=config.terminal, request_id=request_id, kind=kind
        )
    except signing.SealBroken:
        refuse("bad_command", "the command's sealed secret does not open for this terminal")
        return
    if time.time() > until + signing.MAX_SKEW_SECONDS:
        refuse("expired", "the command is older than its time limit")
        return
    if not CardRequestJournal(config.state_dir).first_use(request_id):
        refuse("bad_command", "this request was read before (a replayed command)")
        return
    try:
        data = _card_reader(config).read(kind=kind, pin=pin)
    except CardFailed as failed:
        logger.warning("card read %s failed: %s", request_id, failed.reason)
        payload: dict[str, Any] = {
            "type": "card.failed",
            "request": request_id,
            "reason": failed.reason,
            "retries_left": failed.retries_left,
        }
    except Exception as exc:
        # A driver bug or an unplugged reader must still answer the session, and Celery must not log the
        # exception (its message could carry what the card said). Class name only.
        logger.error("card read %s: the reader failed unexpectedly (%s)", request_id, type(exc).__name__)
        payload = {
            "type": "card.failed",
            "request": request_id,
            "reason": "reader_error",
            "retries_left": None,
        }
    else:
        logger.info("card read %s done", request_id)
        payload = {"type": "card.read", "request": request_id, "kind": kind, "card": data}
    del pin
    agent_outbox(config).post(payload)


class CardRequestJournal:
    """The card requests this agent has read (one empty file each under ``<state dir>/card-requests/``, named by
    the request id's hash), so the same command delivered twice — redelivered, or replayed from the broker — never
    reaches the card a second time. Entries older than a day are forgotten (a command's seal lapses long before)."""

    KEEP_SECONDS = 86400

    def __init__(self, state_dir: Path) -> None:
        self.folder = state_dir / "card-requests"

    def first_use(self, request_id: str) -> bool:
        """Record ``request_id``; False when it was recorded before."""
        self.folder.mkdir(parents=True, exist_ok=True)
        name = hashlib.sha256(request_id.encode()).hexdigest()
        try:
            os.close(os.open(self.folder / name, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        except FileExistsError:
            return False
        cutoff = time.time() - self.KEEP_SECONDS
        for entry in self.folder.iterdir():
            with contextlib.suppress(FileNotFoundError):
                if entry.stat().st_mtime < cutoff:
                    entry.unlink()
        return True


@agent_app.task(name="devices.agent.probe_card", max_retries=0, acks_late=False)
def probe_card(*, request_id: str, kind: str) -> None:
    """Before the resident types the PIN: read the card's retry counter without spending a try and report it
    (``card.probed`` with ``status`` ok, or the CardFailed reason: no_card, unknown_card, locked …), so the
    tablet shows the tries left — and a locked card — before the PIN is typed. Carries no secret."""
    config = AgentConfig.from_env()
    try:
        left = _card_reader(config).retries(kind=kind)
        status: str = "ok"
    except CardFailed as failed:
        left, status = failed.retries_left, failed.reason
    except Exception as exc:
        logger.error("card probe %s: the reader failed unexpectedly (%s)", request_id, type(exc).__name__)
        left, status = None, "reader_error"
    logger.info("card probe %s: %s", request_id, status)
    agent_outbox(config).post(
        {"type": "card.probed", "request": request_id, "kind": kind, "status": status, "retries_left": left}
    )


@worker_ready.connect
def _runtime_start(sender: Any = None, **_: Any) -> None:
    """The agent's threads (outbox sender, heartbeat, device watchers) run while its worker runs. Only for this
    app's worker: the signal is global to the process."""
    if getattr(sender, "app", None) is agent_app:
        runtime.runtime_start(AgentConfig.from_env())


@worker_shutdown.connect
def _runtime_stop(**_: Any) -> None:
    runtime.runtime_stop()
