"""The push channel for live screens (the clerk screen, the resident tablet): ``publish`` from anywhere,
``sse_response`` from an async view.

A push is a nudge, never the record: durable state lives in the database and a screen can always rebuild itself
from a snapshot. So a stream sends a snapshot first, then the events of its topics, and at every heartbeat it takes
the snapshot again and sends it when it changed — which also covers events it never heard of (published in another
process without Redis, dropped from a full queue, lost while Redis was away).

Topics are plain strings: ``"session:<受付番号>"``, ``"counter:<code>"``, ``"group:<code>"``. An event is a JSON
object whose ``"type"`` becomes the SSE ``event:`` name.

Backends, chosen by ``MADOGUCHI_PUSH_URL`` (default: ``REDIS_URL``):

- Redis: ``publish`` sends ``PUBLISH madoguchi:push:<topic>``. Each event loop of a web process (one per uvicorn
  worker) keeps ONE subscriber connection, subscribed to the topics its open streams follow, and fans each message
  out to them. Reconnects with back-off; streams get a fresh snapshot once their topics are subscribed again.
- none: an in-process hub. Only streams of the publishing process hear an event, so without Redis the web must run
  as ONE process; events published elsewhere (the Celery worker) reach screens through the heartbeat snapshot.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
import re
import socket
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

import redis
import redis.asyncio
import redis.asyncio.client
import redis.asyncio.retry
from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.conf import settings
from django.core.handlers.asgi import ASGIRequest
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connections, transaction
from django.http import HttpRequest, StreamingHttpResponse
from redis.backoff import NoBackoff

from madoguchi.sessions import session_untouched

logger = logging.getLogger(__name__)

CHANNEL_PREFIX = "madoguchi:push:"
# Events held for one stream whose client reads slowly; beyond it the oldest go and the stream re-sends a snapshot.
QUEUE_LIMIT = 256
# Milliseconds a browser waits before it reconnects (the SSE "retry:" field).
RETRY_MS = 2000
SNAPSHOT = "snapshot"

_TYPE = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
_TOPIC = re.compile(r"\S{1,200}")
# Redis: connect and command timeouts; how long a new stream waits for its SUBSCRIBE to be confirmed; back-off
# between reconnection attempts; how long publish() skips Redis after a failure (one timeout per pause, not one
# per event, while Redis is away).
_REDIS_TIMEOUT = 2.0
_SUBSCRIBE_WAIT = 5.0
_RECONNECT_DELAYS = (0.5, 1.0, 2.0, 5.0, 10.0)
_PUBLISH_PAUSE = 5.0
# A Redis host that vanishes without closing the connection is noticed within about a minute.
_KEEPALIVE = {
    option: value
    for name, value in (("TCP_KEEPIDLE", 30), ("TCP_KEEPINTVL", 10), ("TCP_KEEPCNT", 3))
    if (option := getattr(socket, name, None)) is not None
}


@dataclass(frozen=True)
class _Message:
    type: str
    data: str  # the whole event as JSON text, sent as the SSE "data:" line


def _dumps(value: dict[str, Any]) -> str:
    return json.dumps(value, cls=DjangoJSONEncoder, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def _check_topic(topic: str) -> None:
    if not isinstance(topic, str) or not _TOPIC.fullmatch(topic):
        raise ValueError(
            f"a push topic is a non-empty string without spaces (at most 200 characters): {topic!r}"
        )


def _message(topic: str, event: dict[str, Any]) -> _Message:
    """Check ``topic`` and ``event`` and serialise the event once (errors are the caller's, raised here)."""
    _check_topic(topic)
    kind = event.get("type") if isinstance(event, dict) else None
    if not isinstance(kind, str) or not _TYPE.fullmatch(kind) or kind == SNAPSHOT:
        raise ValueError(
            f"a push event is a dict whose 'type' is 1-64 of A-Z a-z 0-9 _ . : - and not {SNAPSHOT!r}: {kind!r}"
        )
    return _Message(kind, _dumps(event))


def _message_from_wire(data: str) -> _Message | None:
    try:
        event = json.loads(data)
    except ValueError:
        return None
    kind = event.get("type") if isinstance(event, dict) else None
    if not isinstance(kind, str) or not _TYPE.fullmatch(kind) or kind == SNAPSHOT:
        return None
    return _Message(kind, data)


def _topic_kind(topic: str) -> str:
    """What a log line may say about a topic: its kind ("session"), never the key after it."""
    return topic.split(":", 1)[0]


class _Listener:
    """One open stream on one event loop: the topics it follows and the events waiting to be sent to it.

    Every method runs on ``loop``; other threads reach it through ``loop.call_soon_threadsafe``."""

    def __init__(self, topics: frozenset[str], loop: asyncio.AbstractEventLoop) -> None:
        self.topics = topics
        self.loop = loop
        self.queue: deque[_Message] = deque()
        self.stale = False  # events may have been missed: send a fresh snapshot
        self.wakeup = asyncio.Event()

    def deliver(self, message: _Message) -> None:
        if len(self.queue) >= QUEUE_LIMIT:
            self.queue.popleft()
            self.stale = True
        self.queue.append(message)
        self.wakeup.set()

    def refresh(self) -> None:
        self.stale = True
        self.wakeup.set()


def _deliver_threadsafe(listener: _Listener, message: _Message) -> None:
    with contextlib.suppress(RuntimeError):  # its event loop has closed, and the stream with it
        listener.loop.call_soon_threadsafe(listener.deliver, message)


class _Backend(Protocol):
    url: str

    def publish(self, topic: str, message: _Message) -> None: ...

    async def subscribe(self, listener: _Listener) -> None: ...

    def unsubscribe(self, listener: _Listener) -> None: ...

    def listeners_open(self) -> int: ...


class _LocalHub:
    """The embedded default: streams and publishers of this one process."""

    url = ""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._listeners: dict[str, set[_Listener]] = {}

    def publish(self, topic: str, message: _Message) -> None:
        with self._lock:
            listeners = list(self._listeners.get(topic, ()))
        for listener in listeners:
            _deliver_threadsafe(listener, message)

    async def subscribe(self, listener: _Listener) -> None:
        with self._lock:
            for topic in listener.topics:
                self._listeners.setdefault(topic, set()).add(listener)

    def unsubscribe(self, listener: _Listener) -> None:
        with self._lock:
            for topic in listener.topics:
                listeners = self._listeners.get(topic)
                if listeners is not None:
                    listeners.discard(listener)
                    if not listeners:
                        del self._listeners[topic]

    def listeners_open(self) -> int:
        with self._lock:
            return len(set().union(*self._listeners.values()))


class _RedisBackend:
    """Redis pub/sub: a synchronous client for ``publish`` (any thread), one ``_RedisSubscriber`` per event loop."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._client = redis.Redis.from_url(
            url,
            socket_connect_timeout=_REDIS_TIMEOUT,
            socket_timeout=_REDIS_TIMEOUT,
            socket_keepalive=True,
            # One immediate retry on a fresh connection: a pooled one may be stale after Redis restarted.
            retry=redis.retry.Retry(NoBackoff(), 1),
        )
        self._lock = threading.Lock()
        self._subscribers: dict[asyncio.AbstractEventLoop, _RedisSubscriber] = {}
        self._paused_until = 0.0
        # publish() called on an event loop hands the network call to one thread, in order, so a slow Redis never
        # stalls the loop's streams. Made per process: a forked child does not inherit the thread.
        self._executor: ThreadPoolExecutor | None = None
        self._executor_pid = 0

    def publish(self, topic: str, message: _Message) -> None:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            self._send(topic, message)
            return
        with self._lock:
            if self._executor is None or self._executor_pid != os.getpid():
                self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="madoguchi-push")
                self._executor_pid = os.getpid()
            executor = self._executor
        executor.submit(self._send, topic, message)

    def _send(self, topic: str, message: _Message) -> None:
        if time.monotonic() < self._paused_until:
            return
        try:
            self._client.publish(CHANNEL_PREFIX + topic, message.data)
        except (redis.RedisError, OSError) as exc:
            self._paused_until = time.monotonic() + _PUBLISH_PAUSE
            logger.warning(
                "push: could not publish a %s event to Redis (%s: %s); events are dropped for %.0f s, "
                "screens catch up from their snapshots",
                _topic_kind(topic),
                type(exc).__name__,
                exc,
                _PUBLISH_PAUSE,
            )

    async def subscribe(self, listener: _Listener) -> None:
        with self._lock:
            subscriber = self._subscribers.get(listener.loop)
            if subscriber is None:
                subscriber = self._subscribers[listener.loop] = _RedisSubscriber(self, listener.loop)
        await subscriber.add(listener)

    def unsubscribe(self, listener: _Listener) -> None:
        with self._lock:
            subscriber = self._subscribers.get(listener.loop)
        if subscriber is not None:
            subscriber.remove(listener)

    def subscriber_stopped(self, subscriber: _RedisSubscriber) -> None:
        with self._lock:
            if self._subscribers.get(subscriber.loop) is subscriber:
                del self._subscribers[subscriber.loop]

    def listeners_open(self) -> int:
        with self._lock:
            subscribers = list(self._subscribers.values())
        return sum(subscriber.listeners_open() for subscriber in subscribers)


class _RedisSubscriber:
    """The one Redis connection of one event loop. It lives while that loop has open streams: subscribes to the
    topics they follow (SUBSCRIBE/UNSUBSCRIBE as streams come and go), reads messages and hands each to the
    streams of its topic. Everything here runs on ``loop``."""

    def __init__(self, backend: _RedisBackend, loop: asyncio.AbstractEventLoop) -> None:
        self.backend = backend
        self.loop = loop
        self.listeners: dict[str, set[_Listener]] = {}
        self.sent: set[str] = set()  # topics SUBSCRIBE went out for on the current connection
        self.confirmed: set[str] = set()  # topics Redis confirmed on the current connection
        self.refresh_on_confirm: set[str] = set()  # topics whose streams may have missed events
        self.waiters: list[tuple[frozenset[str], asyncio.Future[None]]] = []
        self.client: redis.asyncio.Redis | None = None
        self.pubsub: redis.asyncio.client.PubSub | None = None
        self.connected = False
        self.failed = False  # the connection was lost, or could not be made, at least once
        self.sync_lock = asyncio.Lock()
        self.background: set[asyncio.Task[None]] = set()
        self.task = loop.create_task(self._run())

    def listeners_open(self) -> int:
        return len(set().union(*list(self.listeners.values())))

    async def add(self, listener: _Listener) -> None:
        """Follow ``listener``'s topics; return once Redis confirmed them (or at once while Redis is away)."""
        for topic in listener.topics:
            self.listeners.setdefault(topic, set()).add(listener)
        if listener.topics <= self.confirmed:
            return
        waiter = (listener.topics, self.loop.create_future())
        self.waiters.append(waiter)
        try:
            self._sync_soon()
            if self.connected or not self.failed:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(waiter[1]), _SUBSCRIBE_WAIT)
        finally:
            if waiter in self.waiters:
                self.waiters.remove(waiter)
        # Not confirmed yet: the stream's snapshot may miss events, so it gets a new one once they are.
        self.refresh_on_confirm |= listener.topics - self.confirmed

    def remove(self, listener: _Listener) -> None:
        for topic in listener.topics:
            listeners = self.listeners.get(topic)
            if listeners is not None:
                listeners.discard(listener)
                if not listeners:
                    del self.listeners[topic]
        if self.listeners:
            self._sync_soon()
        else:
            self.backend.subscriber_stopped(self)
            self.task.cancel()

    def _sync_soon(self) -> None:
        task = self.loop.create_task(self._sync())
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    async def _sync(self) -> None:
        """Bring the connection's subscriptions in line with the open streams' topics."""
        async with self.sync_lock:
            pubsub = self.pubsub
            if not self.connected or pubsub is None:
                return
            wanted = set(self.listeners)
            new, gone = wanted - self.sent, self.sent - wanted
            try:
                if new:
                    await pubsub.subscribe(*(CHANNEL_PREFIX + topic for topic in new))
                if gone:
                    await pubsub.unsubscribe(*(CHANNEL_PREFIX + topic for topic in gone))
            except Exception as exc:  # a background task: nobody else would see it
                logger.debug("push: subscription change failed (%s); reconnecting", type(exc).__name__)
                # Make the reader notice: it reconnects and subscribes to everything again.
                with contextlib.suppress(Exception):
                    if pubsub.connection is not None:
                        await pubsub.connection.disconnect(nowait=True)
                return
            if self.pubsub is pubsub:  # still the same connection
                self.sent = (self.sent | new) - gone
                self.confirmed -= gone

    async def _run(self) -> None:
        attempt = 0
        try:
            while True:
                try:
                    pubsub = await self._connect()
                    while True:
                        message = await pubsub.get_message(timeout=None)
                        attempt = 0
                        if message is not None:
                            self._handle(message)
                except Exception as exc:  # whatever broke the connection, make a new one
                    self._lost(exc)
                    await self._close()
                delay = _RECONNECT_DELAYS[min(attempt, len(_RECONNECT_DELAYS) - 1)]
                attempt += 1
                await asyncio.sleep(delay * random.uniform(0.8, 1.2))  # noqa: S311 (jitter, not a secret)
        finally:
            self._release_waiters()
            await self._close()

    async def _connect(self) -> redis.asyncio.client.PubSub:
        client = redis.asyncio.Redis.from_url(
            self.backend.url,
            decode_responses=True,
            socket_connect_timeout=_REDIS_TIMEOUT,
            socket_timeout=_REDIS_TIMEOUT,
            socket_keepalive=True,
            socket_keepalive_options=_KEEPALIVE,
            retry=redis.asyncio.retry.Retry(NoBackoff(), 0),
            client_name=f"madoguchi-push-{os.getpid()}",
        )
        pubsub = client.pubsub()
        self.client, self.pubsub = client, pubsub
        await pubsub.connect()
        self.connected = True
        if self.failed:
            logger.info("push: Redis subscriber connected again")
        await self._sync()
        return pubsub

    def _handle(self, message: dict[str, Any]) -> None:
        channel = message.get("channel")
        if not isinstance(channel, str) or not channel.startswith(CHANNEL_PREFIX):
            return
        topic = channel[len(CHANNEL_PREFIX) :]
        kind = message.get("type")
        if kind == "subscribe":
            self._confirmed(topic)
        elif kind == "unsubscribe":
            self.confirmed.discard(topic)
        elif kind == "message":
            parsed = _message_from_wire(message.get("data") or "")
            if parsed is None:
                logger.warning(
                    "push: ignored a message that is not a push event on a %s topic", _topic_kind(topic)
                )
                return
            for listener in list(self.listeners.get(topic, ())):
                listener.deliver(parsed)

    def _confirmed(self, topic: str) -> None:
        self.confirmed.add(topic)
        if topic in self.refresh_on_confirm:
            self.refresh_on_confirm.discard(topic)
            for listener in self.listeners.get(topic, ()):
                listener.refresh()
        for topics, future in self.waiters:
            if topics <= self.confirmed and not future.done():
                future.set_result(None)

    def _lost(self, exc: BaseException) -> None:
        if self.connected or not self.failed:
            logger.warning(
                "push: Redis subscriber %s (%s: %s); retrying with back-off, screens keep their heartbeat snapshots",
                "lost its connection" if self.connected else "cannot connect",
                type(exc).__name__,
                exc,
            )
        self.connected = False
        self.failed = True
        self.sent.clear()
        self.confirmed.clear()
        self.refresh_on_confirm |= set(self.listeners)
        self._release_waiters()

    def _release_waiters(self) -> None:
        for _, future in self.waiters:
            if not future.done():
                future.set_result(None)

    async def _close(self) -> None:
        self.connected = False
        client, pubsub = self.client, self.pubsub
        self.client = self.pubsub = None
        with contextlib.suppress(redis.RedisError, OSError):
            if pubsub is not None:
                await pubsub.aclose()
            if client is not None:
                await client.aclose()


_backend_lock = threading.Lock()
_current_backend: _Backend | None = None


def _backend() -> _Backend:
    """The backend for ``MADOGUCHI_PUSH_URL``, made on first use (and again if the setting changed, in tests)."""
    global _current_backend
    url = settings.MADOGUCHI_PUSH_URL
    backend = _current_backend
    if backend is None or backend.url != url:
        with _backend_lock:
            backend = _current_backend
            if backend is None or backend.url != url:
                backend = _RedisBackend(url) if url else _LocalHub()
                _current_backend = backend
    return backend


def _publish_message(topic: str, message: _Message) -> None:
    try:
        _backend().publish(topic, message)
    except Exception as exc:  # push is a nudge: whatever goes wrong here must not fail the caller's work
        logger.warning(
            "push: could not publish a %s event (%s: %s)", _topic_kind(topic), type(exc).__name__, exc
        )


def publish(topic: str, event: dict[str, Any]) -> None:
    """Send ``event`` (a JSON-serialisable dict with a ``"type"``) to every stream following ``topic``.

    Synchronous; callable from any thread or process (views, Celery tasks) and from async code. Never raises because
    the backend is down: it logs a warning and returns. Raises ``ValueError``/``TypeError`` for a malformed topic or
    event — that is a bug at the call site."""
    _publish_message(topic, _message(topic, event))


def publish_on_commit(topic: str, event: dict[str, Any]) -> None:
    """``publish`` once the current transaction commits (at once outside one). The event is checked and
    serialised now, so a bad one fails here and later changes to the dict do not leak into it."""
    message = _message(topic, event)
    transaction.on_commit(lambda: _publish_message(topic, message))


def listeners_open() -> int:
    """How many streams of this process are open (for diagnostics and tests)."""
    return _backend().listeners_open()


def _close_idle_connections() -> None:
    """Close this thread's database connections, unless one is inside a transaction (a test's): an open stream must
    not keep a connection between snapshots."""
    for connection in connections.all(initialized_only=True):
        if not connection.in_atomic_block:
            connection.close()


async def _take_snapshot(snapshot: Callable[[], Awaitable[dict[str, Any]]]) -> str:
    # Its own thread context: the ORM calls of this snapshot run in a short-lived thread whose connection is closed
    # afterwards, instead of keeping one per open stream.
    async with ThreadSensitiveContext():
        try:
            return _dumps(await snapshot())
        finally:
            await sync_to_async(_close_idle_connections)()


async def _event_stream(
    backend: _Backend,
    topics: frozenset[str],
    snapshot: Callable[[], Awaitable[dict[str, Any]]] | None,
    heartbeat: float,
    endless: bool,
) -> AsyncIterator[bytes]:
    loop = asyncio.get_running_loop()
    listener = _Listener(topics, loop)
    sent = 0

    def frame(kind: str, data: str) -> bytes:
        nonlocal sent
        sent += 1
        return f"id: {sent}\nevent: {kind}\ndata: {data}\n\n".encode()

    subscribed = False
    try:
        yield f"retry: {RETRY_MS}\n\n".encode()
        if endless:
            # Subscribe before the snapshot: no event can fall between the two. (Flagged first: a client that
            # leaves while the subscription is under way must be unsubscribed too.)
            subscribed = True
            await backend.subscribe(listener)
        # The middleware and the view may have used the database in this request's thread; the stream itself
        # needs no connection.
        await sync_to_async(_close_idle_connections)()
        last = None
        if snapshot is not None:
            last = await _take_snapshot(snapshot)
            yield frame(SNAPSHOT, last)
        if not endless:
            return
        next_beat = loop.time() + heartbeat
        quiet = True  # nothing sent since the last heartbeat
        while True:
            remaining = next_beat - loop.time()
            if remaining > 0 and not listener.wakeup.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(listener.wakeup.wait(), remaining)
            listener.wakeup.clear()
            if listener.stale:
                listener.stale = False
                if snapshot is not None:
                    last = await _take_snapshot(snapshot)
                    yield frame(SNAPSHOT, last)
                    quiet = False
            while listener.queue:
                message = listener.queue.popleft()
                yield frame(message.type, message.data)
                quiet = False
            if loop.time() >= next_beat:
                next_beat = loop.time() + heartbeat
                if quiet:
                    yield b": ping\n\n"
                quiet = True
                if snapshot is not None:
                    current = await _take_snapshot(snapshot)
                    if current != last:
                        last = current
                        yield frame(SNAPSHOT, current)
    except Exception as exc:
        # A snapshot failed (the database is away, or a bug): end the stream; the browser reconnects after RETRY_MS.
        logger.warning(
            "push: a stream of %s ended: its snapshot failed (%s)",
            ", ".join(sorted({_topic_kind(topic) for topic in topics})),
            type(exc).__name__,
            exc_info=settings.DEBUG,
        )
    finally:
        # Runs on a client's disconnect too (Django cancels the stream with asyncio.CancelledError).
        if subscribed:
            backend.unsubscribe(listener)


def sse_response(
    request: HttpRequest,
    *,
    topics: list[str],
    snapshot: Callable[[], Awaitable[dict[str, Any]]] | None = None,
    heartbeat: float = 15.0,
) -> StreamingHttpResponse:
    """A Server-Sent-Events response for an async view: ``return push.sse_response(request, topics=[...], ...)``.

    Sends ``retry: 2000``; then ``event: snapshot`` with ``await snapshot()`` (if given); then every event published
    on any of ``topics`` as ``event: <type>`` / ``data: <the event as JSON>``, each frame with an ``id:``. Every
    ``heartbeat`` seconds it calls ``snapshot()`` again and sends it if it differs from the last one sent, and sends a
    ``: ping`` comment if nothing else was sent since the previous heartbeat. A stream that may have missed events
    (its queue overflowed, Redis came back) gets a fresh snapshot at once. Events may repeat what a snapshot already
    shows: a screen applies them idempotently.

    ``snapshot`` may use the ORM (``await Model.objects.aget(...)``, ``sync_to_async``); each call runs in a
    short-lived thread whose database connection is closed afterwards, so an open stream holds no database
    connection and no busy thread. If it raises, the stream ends (logged without the message) and the browser
    reconnects. Served by WSGI (``runserver``, the sync test client) the response is finite: the snapshot, then
    the end, and the browser reconnects after two seconds. The session is not saved after a stream response
    (``madoguchi.sessions``)."""
    if not topics:
        raise ValueError("sse_response needs at least one topic")
    for topic in topics:
        _check_topic(topic)
    if heartbeat <= 0:
        raise ValueError("heartbeat must be positive")
    endless = isinstance(request, ASGIRequest)
    response = StreamingHttpResponse(
        _event_stream(_backend(), frozenset(topics), snapshot, heartbeat, endless),
        content_type="text/event-stream",
    )
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    # The session is not written back when a stream opens (it would overwrite what a request finished meanwhile
    # stored) and an open stream does not count as activity for the idle timeout.
    return session_untouched(response)
