"""The agent's Celery app and its commands. Task arguments never carry PINs or personal data.

``fixups=[]``: the agent runs without Django, so Celery's Django fix-up must not set it up.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import requests
from celery import Celery, Task

from . import broker
from .client import JobRefused, ServerClient
from .config import AgentConfig
from .drivers import CardFailed, PrintFailed, a4_printer, card_reader
from .journal import PrintJournal

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


@agent_app.task(name="devices.agent.print_pdf", bind=True, max_retries=None)
def print_pdf(self: Task, *, job_id: int) -> None:
    """Fetch the job's PDF, print it once, report the outcome.

    Delivered twice, or retried after the report was lost, the job is confirmed without printing again: the
    server answers 410 for a finished job, and the local journal remembers what was printed.
    """
    config = AgentConfig.from_env()
    client = ServerClient(config)
    journal = PrintJournal(config.state_dir)
    try:
        pdf = client.print_job_pdf(job_id)
        if pdf is None:
            logger.info("print job %s: finished already", job_id)
            return
        if not journal.printed(job_id, pdf):
            try:
                where = a4_printer(config).print_pdf(name=f"job-{job_id}.pdf", pdf=pdf)
            except PrintFailed as failed:
                logger.error("print job %s: the printer failed: %s", job_id, failed)
                client.event({"type": "print.failed", "job": job_id, "message": str(failed)})
                return
            journal.record(job_id, pdf)
            logger.info("print job %s printed (%s)", job_id, where)
        client.event({"type": "print.done", "job": job_id})
        journal.prune()
    except JobRefused as refused:
        # Not retried: a wrong secret or clock must be fixed on this PC. The server fails the job after its
        # redispatch limit, so the clerk sees 印刷失敗 rather than waiting forever.
        logger.error("print job %s refused by the server: %s", job_id, refused)
    except requests.RequestException as exc:
        # The server is unreachable or failing: retry with back-off; the job stays queued on the server.
        raise self.retry(exc=exc, countdown=min(60, 2 ** min(self.request.retries, 6))) from exc


def _post_event(client: ServerClient, payload: dict[str, Any], attempts: int = 6) -> None:
    """Post an event, retrying with back-off while the server is unreachable (the payload never holds a PIN)."""
    for attempt in range(attempts):
        try:
            client.event(payload)
            return
        except requests.RequestException:
            if attempt == attempts - 1:
                raise
            time.sleep(min(8, 0.5 * 2**attempt))


@agent_app.task(name="devices.agent.read_card", max_retries=0)
def read_card(*, request_id: str, kind: str, pin: str) -> None:
    """Read the card in this terminal's reader with the PIN the resident typed on the tablet, once.

    The PIN lives only in this call: it is not logged, not retried (a wrong PIN must never be tried again by a
    machine), and not in the event sent back, which carries the card's data or the reason it failed.
    """
    config = AgentConfig.from_env()
    client = ServerClient(config)
    try:
        data = card_reader(config).read(kind=kind, pin=pin)
    except CardFailed as failed:
        logger.warning("card read %s failed: %s", request_id, failed.reason)
        payload: dict[str, Any] = {
            "type": "card.failed",
            "request": request_id,
            "reason": failed.reason,
            "retries_left": failed.retries_left,
        }
    else:
        logger.info("card read %s done", request_id)
        payload = {"type": "card.read", "request": request_id, "kind": kind, "card": data}
    del pin
    try:
        _post_event(client, payload)
    except JobRefused as refused:
        logger.error("card read %s refused by the server: %s", request_id, refused)
