"""The agent's Celery app and its commands. Task arguments never carry PINs or personal data."""

from __future__ import annotations

import logging

import requests
from celery import Celery, Task

from madoguchi import brokerconf

from .client import ServerClient
from .config import AgentConfig
from .drivers import PrintFailed, a4_printer

logger = logging.getLogger("devices.agent")

agent_app = Celery("madoguchi-agent")
agent_app.conf.update(
    broker_url=brokerconf.broker_url(),
    broker_transport_options=brokerconf.broker_transport_options(brokerconf.broker_url()),
    task_ignore_result=True,
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    worker_hijack_root_logger=False,
)


@agent_app.task(name="devices.agent.print_pdf", bind=True, max_retries=None)
def print_pdf(self: Task, *, job_id: int) -> None:
    """Fetch the job's PDF, print it, report the outcome. Safe to run twice: a printed job is skipped."""
    config = AgentConfig.from_env()
    client = ServerClient(config)
    try:
        pdf = client.print_job_pdf(job_id)
        if pdf is None:
            logger.info("print job %s: nothing to print (done already or not this terminal's)", job_id)
            return
        try:
            where = a4_printer(config).print_pdf(name=f"job-{job_id}.pdf", pdf=pdf)
        except PrintFailed as failed:
            client.event({"type": "print.failed", "job": job_id, "message": str(failed)})
            return
        logger.info("print job %s printed (%s)", job_id, where)
        client.event({"type": "print.done", "job": job_id})
    except requests.RequestException as exc:
        # The server is unreachable: retry with back-off; the job row on the server stays queued meanwhile.
        raise self.retry(exc=exc, countdown=min(60, 2 ** min(self.request.retries, 6))) from exc
