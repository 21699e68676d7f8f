"""Celery tasks of the forms engine: thin wrappers around services, on the ``render`` queue."""

from celery import shared_task

from . import services


@shared_task(name="forms_engine.tasks.packet_render", acks_late=True)
def packet_render(render_id: int) -> str:
    return services.packet_render_run(render_id=render_id)


@shared_task(name="forms_engine.tasks.packet_renders_redispatch")
def packet_renders_redispatch() -> int:
    return services.packet_renders_redispatch()
