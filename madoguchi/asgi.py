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
    """Django's ASGI handler, with the middleware chain run in one thread hop and synchronous response bodies
    streamed chunk by chunk.

    Our views are synchronous but for the push streams. Django's async chain would run each middleware's
    ``process_request`` / ``process_view`` / ``process_response`` in a thread hop of its own (MiddlewareMixin's
    ``__acall__``), and cross back to the event loop around WhiteNoise (sync only): some twenty round trips through
    a busy event loop per request, each a wait for the loop and the GIL. Here the whole chain and the view run in the
    request's thread (thread-sensitive, as Django runs a sync view), reached in one hop; an async view (a push
    stream) is called from there on the event loop and its stream is sent from the loop as before.

    Given a synchronous iterator — every ``FileResponse``: WhiteNoise's static files, PDFs — Django's handler reads
    the whole body into memory in a thread and warns on each response. Here each chunk is read in the request's
    thread as it is sent, with every middleware (WhiteNoise's headers, SecurityMiddleware's) applied as before."""

    def load_middleware(self, is_async: bool = False) -> None:
        super().load_middleware(is_async=False)

    async def get_response_async(self, request: HttpRequest) -> HttpResponseBase:
        response = await sync_to_async(self.get_response, thread_sensitive=True)(request)
        if isinstance(response, StreamingHttpResponse) and not response.is_async:
            content = response.streaming_content
            assert isinstance(content, Iterator)
            response.streaming_content = _chunks_in_thread(content)
        return response


os.environ.setdefault("DJANGO_SETTINGS_MODULE", "madoguchi.settings")
django.setup(set_prefix=False)
application = MadoguchiASGIHandler()
