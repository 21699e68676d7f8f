"""ASGI entry point: what gunicorn's uvicorn workers serve (``Dockerfile``, ``madoguchi/demo.py``)."""

import os
from collections.abc import AsyncIterator, Iterator

import django
from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIHandler
from django.http import HttpRequest, StreamingHttpResponse
from django.http.response import HttpResponseBase


def _next_chunk(content: Iterator[bytes]) -> bytes | None:
    return next(content, None)


async def _chunks_in_thread(content: Iterator[bytes]) -> AsyncIterator[bytes]:
    # thread_sensitive: the request's own thread, as for a sync view (a generator may use the ORM).
    next_chunk = sync_to_async(_next_chunk, thread_sensitive=True)
    while (chunk := await next_chunk(content)) is not None:
        yield chunk


class MadoguchiASGIHandler(ASGIHandler):
    """Django's ASGI handler, streaming synchronous response bodies chunk by chunk.

    Given a synchronous iterator — every ``FileResponse``: WhiteNoise's static files, PDFs — Django's handler reads
    the whole body into memory in a thread and warns on each response. Here each chunk is read in the request's
    thread as it is sent, with every middleware (WhiteNoise's headers, SecurityMiddleware's) applied as before."""

    async def get_response_async(self, request: HttpRequest) -> HttpResponseBase:
        response = await super().get_response_async(request)
        if isinstance(response, StreamingHttpResponse) and not response.is_async:
            content = response.streaming_content
            assert isinstance(content, Iterator)
            response.streaming_content = _chunks_in_thread(content)
        return response


os.environ.setdefault("DJANGO_SETTINGS_MODULE", "madoguchi.settings")
django.setup(set_prefix=False)
application = MadoguchiASGIHandler()
