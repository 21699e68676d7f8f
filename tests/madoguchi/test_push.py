"""The push channel (madoguchi.push): events published from other threads, and through the real Redis from other
processes, reach server-sent-event streams served by a real ASGI server (uvicorn running ``madoguchi.asgi`` in a
thread) to an HTTP client. Timeouts only bound how long a test waits for something that must happen."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import django
import pytest
import redis
import requests
import uvicorn
from django.contrib.sessions.backends.db import SessionStore
from django.db import connection
from django.http import HttpRequest, HttpResponse, HttpResponseBase, StreamingHttpResponse
from django.test import Client, RequestFactory
from django.urls import path
from pytest_django.fixtures import Settings

from madoguchi import push
from madoguchi.accounts.models import User
from madoguchi.sessions import SessionMiddleware

from ..conftest import free_port
from ..factories import UserFactory

ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/15"
WAIT = 20.0  # seconds to wait for what must happen; never a speed limit

# --- A test-only async view, served with this module as ROOT_URLCONF --------------------------------------------

STATE: dict[str, str] = {}  # what a topic's snapshot shows; tests change it without publishing


async def stream_view(request: HttpRequest, topic: str) -> StreamingHttpResponse:
    async def snapshot() -> dict[str, Any]:
        if STATE.get(topic) == "broken":
            raise RuntimeError("a snapshot that fails, with 葛西 in its message")
        return {"state": STATE.get(topic, "initial")}

    heartbeat = float(request.GET.get("heartbeat", "60"))
    return push.sse_response(request, topics=[topic], snapshot=snapshot, heartbeat=heartbeat)


async def users_view(request: HttpRequest, topic: str) -> StreamingHttpResponse:
    async def snapshot() -> dict[str, Any]:
        return {"users": await User.objects.acount()}

    return push.sse_response(request, topics=[topic], snapshot=snapshot, heartbeat=0.2)


urlpatterns = [path("push-test/<str:topic>", stream_view), path("push-test-users/<str:topic>", users_view)]


# --- Fixtures and helpers ---------------------------------------------------------------------------------------


def _redis_reachable() -> bool:
    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping())
    except (redis.RedisError, OSError):
        return False


@pytest.fixture
def redis_url() -> str:
    if not _redis_reachable():
        pytest.skip(f"Redis is not reachable at {REDIS_URL}: start redis-server to test the Redis backend")
    return REDIS_URL


@pytest.fixture(params=["in-process", "redis"])
def backend(request: pytest.FixtureRequest, settings: Settings) -> str:
    """Each stream test runs on both backends."""
    if request.param == "redis":
        settings.MADOGUCHI_PUSH_URL = request.getfixturevalue("redis_url")
    else:
        settings.MADOGUCHI_PUSH_URL = ""
    return str(request.param)


@pytest.fixture(autouse=True)
def _test_urls(settings: Settings) -> None:
    settings.ROOT_URLCONF = __name__


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    """uvicorn serving madoguchi.asgi.application in a thread of this process, on a free loopback port."""
    from madoguchi.asgi import application

    port = free_port()
    config = uvicorn.Config(
        application,
        host="127.0.0.1",
        port=port,
        lifespan="off",
        log_level="warning",
        timeout_graceful_shutdown=5,
    )
    uvicorn_server = uvicorn.Server(config)
    thread = threading.Thread(target=uvicorn_server.run, name="uvicorn", daemon=True)
    thread.start()
    wait_until(lambda: uvicorn_server.started, "uvicorn started")
    yield f"http://127.0.0.1:{port}"
    uvicorn_server.should_exit = True
    thread.join(WAIT)


def wait_until(condition: Callable[[], object], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"still waiting after {WAIT:.0f} s: {what}")
        time.sleep(0.05)


def new_topic(kind: str = "session") -> str:
    return f"{kind}:test-{uuid.uuid4().hex}"


class EventStream:
    """A server-sent-events client over a real HTTP connection. ``next()`` returns one frame: its fields
    (``data`` parsed as JSON), or ``{"comment": ...}`` for a comment line such as ``: ping``."""

    def __init__(self, url: str) -> None:
        self.response = requests.get(url, stream=True, timeout=(5, WAIT))
        self.response.raise_for_status()
        self.response.encoding = "utf-8"  # what the SSE standard prescribes, whatever the header says
        self.lines = self.response.iter_lines(decode_unicode=True)

    def next(self) -> dict[str, Any]:
        frame: dict[str, Any] = {}
        for line in self.lines:
            if line == "":
                if frame:
                    return frame
            elif line.startswith(":"):
                return {"comment": line[1:].strip()}
            else:
                name, _, value = line.partition(":")
                value = value.removeprefix(" ")
                frame[name] = json.loads(value) if name == "data" else value
        raise EOFError("the stream ended")

    def next_event(self) -> dict[str, Any]:
        """The next frame that is not a ping."""
        while "comment" in (frame := self.next()):
            pass
        return frame

    def open(self) -> dict[str, Any]:
        """Read the opening ``retry:`` and the first snapshot, and return the snapshot."""
        assert self.next() == {"retry": "2000"}
        snapshot = self.next()
        assert snapshot["event"] == "snapshot", snapshot
        return snapshot

    def close(self) -> None:
        self.response.close()


@pytest.fixture
def streams() -> Iterator[Callable[[str], EventStream]]:
    opened: list[EventStream] = []

    def open_stream(url: str) -> EventStream:
        opened.append(EventStream(url))
        return opened[-1]

    yield open_stream
    for stream in opened:
        stream.close()


def subscribers_of(url: str, topic: str) -> int:
    client = redis.Redis.from_url(url)
    return int(
        dict(client.pubsub_numsub(push.CHANNEL_PREFIX + topic))[(push.CHANNEL_PREFIX + topic).encode()]
    )


def push_connections_of_this_process(url: str) -> int:
    name = f"madoguchi-push-{os.getpid()}"
    return sum(1 for client in redis.Redis.from_url(url).client_list() if client.get("name") == name)


class CuttableProxy:
    """A TCP proxy on loopback in front of Redis whose connections the test can cut, as a restart would."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.sockets: list[socket.socket] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.upstream)
            with self.lock:
                self.sockets += [client, server]
            for source, target in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(source, target), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
        for sock in (source, target):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        with self.lock:
            sockets, self.sockets = self.sockets, []
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def close(self) -> None:
        self.listener.close()
        self.cut()


# --- Streams over a real ASGI server (both backends) ------------------------------------------------------------


def test_a_stream_sends_a_snapshot_then_the_events_of_its_topic_in_order_with_ids(
    server: str, backend: str, streams: Callable[[str], EventStream]
) -> None:
    topic = new_topic()
    stream = streams(f"{server}/push-test/{topic}")
    assert stream.response.headers["Content-Type"] == "text/event-stream"
    assert stream.response.headers["Cache-Control"] == "no-cache"
    assert stream.response.headers["X-Accel-Buffering"] == "no"
    assert stream.open() == {"id": "1", "event": "snapshot", "data": {"state": "initial"}}

    # Published from this thread; the stream lives on the server thread's event loop (through Redis, or not).
    push.publish(new_topic(), {"type": "session", "n": 0})
    for n in (1, 2, 3):
        push.publish(topic, {"type": "session" if n != 2 else "print", "n": n, "name": "葛\U000e0102西"})
    frames = [stream.next_event() for _ in range(3)]
    assert [(frame["event"], frame["data"]["n"]) for frame in frames] == [
        ("session", 1),
        ("print", 2),
        ("session", 3),
    ]
    assert [frame["id"] for frame in frames] == ["2", "3", "4"]
    assert frames[0]["data"] == {"type": "session", "n": 1, "name": "葛\U000e0102西"}


def test_a_stream_pings_at_each_heartbeat_and_resends_the_snapshot_only_when_it_changed(
    server: str, backend: str, streams: Callable[[str], EventStream]
) -> None:
    topic = new_topic("counter")
    stream = streams(f"{server}/push-test/{topic}?heartbeat=0.2")
    stream.open()
    assert [stream.next() for _ in range(3)] == [{"comment": "ping"}] * 3  # unchanged: no snapshot

    STATE[topic] = "changed without a publish (as by another process without Redis)"
    frame = stream.next_event()
    assert frame["event"] == "snapshot"
    assert frame["data"] == {"state": STATE[topic]}
    assert [stream.next() for _ in range(2)] == [{"comment": "ping"}] * 2


def test_a_disconnected_client_leaves_no_listener_behind(
    server: str, backend: str, settings: Settings, streams: Callable[[str], EventStream]
) -> None:
    topic = new_topic()
    stream = streams(f"{server}/push-test/{topic}")
    stream.open()
    wait_until(lambda: push.listeners_open() == 1, "one open stream")
    if backend == "redis":
        assert subscribers_of(settings.MADOGUCHI_PUSH_URL, topic) == 1

    stream.close()
    wait_until(lambda: push.listeners_open() == 0, "the stream's listener removed after the client left")
    if backend == "redis":
        wait_until(
            lambda: subscribers_of(settings.MADOGUCHI_PUSH_URL, topic) == 0, "Redis subscription dropped"
        )
        wait_until(
            lambda: push_connections_of_this_process(settings.MADOGUCHI_PUSH_URL) == 0, "connection closed"
        )
    push.publish(topic, {"type": "session"})  # nobody listens: nothing to do, nothing raised


def test_publish_on_commit_publishes_once_the_transaction_commits(
    server: str,
    backend: str,
    db: None,
    django_capture_on_commit_callbacks: Any,
    streams: Callable[[str], EventStream],
) -> None:
    topic = new_topic()
    stream = streams(f"{server}/push-test/{topic}")
    stream.open()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        push.publish_on_commit(topic, {"type": "session", "state": "called"})
    assert len(callbacks) == 1
    assert stream.next_event()["data"] == {"type": "session", "state": "called"}
    with pytest.raises(ValueError):
        push.publish_on_commit(topic, {"state": "no type"})  # refused at the call, not after the commit


def test_a_snapshot_may_use_the_orm_and_the_stream_keeps_no_database_connection(
    server: str, backend: str, transactional_db: None, streams: Callable[[str], EventStream]
) -> None:
    stream = streams(f"{server}/push-test-users/{new_topic()}")
    assert stream.open()["data"] == {"users": 0}
    UserFactory.create()  # committed: the server thread's snapshot sees it at the next heartbeat
    assert stream.next_event()["data"] == {"users": 1}
    if connection.vendor == "postgresql":
        wait_until(lambda: connections_in_use_by_others() == 0, "no connection left to the stream's threads")


def connections_in_use_by_others() -> int:
    """PostgreSQL connections to the test database in use other than this test's own: checked out of Django's
    connection pool if there is one (idle pooled connections are the pool's), else open at all."""
    pool = getattr(connection, "pool", None)
    if pool is not None:
        stats = pool.get_stats()
        return int(stats.get("pool_size", 0) - stats.get("pool_available", 0)) - 1
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")
        row = cursor.fetchone()
    return int(row[0]) - 1 if row else 0


def test_a_stream_whose_snapshot_fails_ends_and_unsubscribes(
    server: str, backend: str, streams: Callable[[str], EventStream], caplog: pytest.LogCaptureFixture
) -> None:
    topic = new_topic()
    stream = streams(f"{server}/push-test/{topic}?heartbeat=0.2")
    stream.open()
    STATE[topic] = "broken"
    with pytest.raises(EOFError):
        while True:
            assert stream.next() == {"comment": "ping"}
    wait_until(lambda: push.listeners_open() == 0, "the ended stream's listener removed")
    assert "push: a stream of session ended: its snapshot failed (RuntimeError)" in caplog.text
    assert "葛西" not in caplog.text


# --- Redis: other processes, one connection, reconnection, Redis down -------------------------------------------


def test_events_published_by_another_process_reach_the_stream_through_redis(
    server: str, redis_url: str, settings: Settings, streams: Callable[[str], EventStream]
) -> None:
    settings.MADOGUCHI_PUSH_URL = redis_url
    topic = new_topic()
    stream = streams(f"{server}/push-test/{topic}")
    stream.open()
    script = (
        "import django; django.setup(); from madoguchi import push; import sys; "
        "[push.publish(sys.argv[1], {'type': 'print', 'n': n, 'status': '印刷済'}) for n in (1, 2)]"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "madoguchi.settings", "MADOGUCHI_PUSH_URL": redis_url}
    result = subprocess.run(
        [sys.executable, "-c", script, topic], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    frames = [stream.next_event() for _ in range(2)]
    assert [frame["data"] for frame in frames] == [
        {"type": "print", "n": n, "status": "印刷済"} for n in (1, 2)
    ]


def test_publish_from_async_code_reaches_the_stream_in_order(
    server: str, redis_url: str, settings: Settings, streams: Callable[[str], EventStream]
) -> None:
    settings.MADOGUCHI_PUSH_URL = redis_url
    topic = new_topic()
    stream = streams(f"{server}/push-test/{topic}")
    stream.open()

    async def publish_from_an_event_loop() -> None:
        for n in range(5):
            push.publish(topic, {"type": "session", "n": n})  # handed to the publishing thread, in order

    asyncio.run(publish_from_an_event_loop())
    assert [stream.next_event()["data"]["n"] for _ in range(5)] == list(range(5))


def test_all_streams_of_a_process_share_one_redis_connection(
    server: str, redis_url: str, settings: Settings, streams: Callable[[str], EventStream]
) -> None:
    settings.MADOGUCHI_PUSH_URL = redis_url
    topics = [new_topic(), new_topic(), new_topic("counter")]
    opened = [streams(f"{server}/push-test/{topic}") for topic in topics + topics[:1]]
    for stream in opened:
        stream.open()
    wait_until(lambda: push_connections_of_this_process(redis_url) == 1, "one connection for four streams")
    assert [subscribers_of(redis_url, topic) for topic in topics] == [1, 1, 1]

    push.publish(topics[0], {"type": "session", "to": "both streams of topic 0"})
    assert opened[0].next_event()["data"]["to"] == "both streams of topic 0"
    assert opened[3].next_event()["data"]["to"] == "both streams of topic 0"

    opened[0].close()
    opened[1].close()
    wait_until(lambda: subscribers_of(redis_url, topics[1]) == 0, "topic 1 unsubscribed")
    assert subscribers_of(redis_url, topics[0]) == 1  # stream 3 still follows topic 0
    assert push_connections_of_this_process(redis_url) == 1


def test_after_redis_comes_back_streams_get_a_fresh_snapshot_and_events_again(
    server: str, redis_url: str, settings: Settings, streams: Callable[[str], EventStream]
) -> None:
    parts = urlsplit(redis_url)
    proxy = CuttableProxy((parts.hostname or "127.0.0.1", parts.port or 6379))
    try:
        netloc = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
        settings.MADOGUCHI_PUSH_URL = urlunsplit(parts._replace(netloc=f"{netloc}127.0.0.1:{proxy.port}"))
        topic = new_topic()
        stream = streams(f"{server}/push-test/{topic}")
        stream.open()

        proxy.cut()  # the subscriber's connection drops; it reconnects (the proxy still accepts)
        frame = stream.next_event()
        assert frame["event"] == "snapshot"  # unchanged state, but events may have been missed
        assert frame["data"] == {"state": "initial"}

        push.publish(topic, {"type": "session", "n": 1})
        assert stream.next_event()["data"] == {"type": "session", "n": 1}
    finally:
        proxy.close()


def test_publish_with_redis_down_returns_and_logs_no_event_data(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    settings.MADOGUCHI_PUSH_URL = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    topic = "session:20261121-shimin-1-0001"
    push.publish(topic, {"type": "session", "name": "葛西花子"})
    push.publish(topic, {"type": "session", "name": "葛西花子"})
    assert caplog.text.count("could not publish a session event") == 1  # then 5 s without trying
    assert "葛西" not in caplog.text
    assert "20261121-shimin-1-0001" not in caplog.text


def test_streams_live_on_heartbeat_snapshots_while_redis_is_down(
    server: str, settings: Settings, streams: Callable[[str], EventStream]
) -> None:
    settings.MADOGUCHI_PUSH_URL = f"redis://127.0.0.1:{free_port()}/0"
    topic = new_topic()
    stream = streams(f"{server}/push-test/{topic}?heartbeat=0.2")
    assert stream.open()["data"] == {"state": "initial"}
    STATE[topic] = "changed while Redis is away"
    assert stream.next_event()["data"] == {"state": STATE[topic]}


# --- Without a network ------------------------------------------------------------------------------------------


def test_the_in_process_hub_delivers_across_threads_in_order(settings: Settings) -> None:
    settings.MADOGUCHI_PUSH_URL = ""
    topic = new_topic()
    received: list[int] = []

    async def listen() -> None:
        listener = push._Listener(frozenset([topic]), asyncio.get_running_loop())
        await push._backend().subscribe(listener)
        ready.set()
        while len(received) < 100:
            await listener.wakeup.wait()
            listener.wakeup.clear()
            while listener.queue:
                received.append(json.loads(listener.queue.popleft().data)["n"])
        push._backend().unsubscribe(listener)

    ready = threading.Event()
    thread = threading.Thread(target=asyncio.run, args=(listen(),))
    thread.start()
    assert ready.wait(WAIT)

    def publish_fifty(first: int) -> None:
        for n in range(first, first + 50):
            push.publish(topic, {"type": "n", "n": n})

    publishers = [threading.Thread(target=publish_fifty, args=(first,)) for first in (0, 50)]
    for publisher in publishers:
        publisher.start()
    for publisher in publishers:
        publisher.join()
    thread.join(WAIT)
    assert sorted(received) == list(range(100))
    assert [n for n in received if n < 50] == list(range(50))  # each publisher's events keep their order
    assert [n for n in received if n >= 50] == list(range(50, 100))
    assert push.listeners_open() == 0


def test_a_full_queue_drops_its_oldest_events_and_marks_the_stream_for_a_snapshot() -> None:
    async def fill() -> push._Listener:
        listener = push._Listener(frozenset(["counter:x"]), asyncio.get_running_loop())
        for n in range(push.QUEUE_LIMIT + 10):
            listener.deliver(push._Message("n", json.dumps({"type": "n", "n": n})))
        return listener

    listener = asyncio.run(fill())
    assert len(listener.queue) == push.QUEUE_LIMIT
    assert json.loads(listener.queue[0].data)["n"] == 10
    assert listener.stale


def test_malformed_topics_and_events_are_refused_at_the_call() -> None:
    for topic, event in (
        ("session:1", {"state": "no type"}),
        ("session:1", {"type": "snapshot"}),  # reserved for snapshots
        ("session:1", {"type": "two\nlines"}),
        ("session 1", {"type": "session"}),
        ("", {"type": "session"}),
    ):
        with pytest.raises(ValueError):
            push.publish(topic, event)
    with pytest.raises(TypeError):
        push.publish("session:1", {"type": "session", "value": object()})


def test_served_by_wsgi_the_stream_is_one_snapshot_then_ends(settings: Settings) -> None:
    settings.MADOGUCHI_PUSH_URL = ""
    response = Client().get(f"/push-test/{new_topic()}")
    assert response["Content-Type"] == "text/event-stream"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Django warns that WSGI consumes an async iterator: expected here
        body = b"".join(response)
    assert body == b'retry: 2000\n\nid: 1\nevent: snapshot\ndata: {"state":"initial"}\n\n'


@pytest.mark.django_db
@pytest.mark.parametrize("streaming", [True, False])
def test_an_open_stream_does_not_write_back_a_session_another_request_changed(
    settings: Settings, streaming: bool
) -> None:
    """The desk's stream loads the clerk's session; "show a pairing code" stores the code in it meanwhile. Saving
    the stream's stale copy would lose the code (a page's response still saves: the control)."""
    settings.MADOGUCHI_PUSH_URL = ""
    store = SessionStore()
    store["kept"] = "before"
    store.create()
    request = RequestFactory().get("/events")
    request.COOKIES[settings.SESSION_COOKIE_NAME] = str(store.session_key)

    def view(request: HttpRequest) -> HttpResponseBase:
        assert request.session["kept"] == "before"  # loaded: the stream's copy
        concurrent = SessionStore(session_key=store.session_key)
        concurrent["pairing"] = "123456"
        concurrent.save()
        if streaming:
            return push.sse_response(request, topics=[new_topic()])
        return HttpResponse("page")

    response = SessionMiddleware(view)(request)
    assert isinstance(response, HttpResponseBase)
    after = SessionStore(session_key=store.session_key).load()
    if streaming:
        assert after.get("pairing") == "123456"
        assert settings.SESSION_COOKIE_NAME not in response.cookies  # an open stream is no activity
    else:
        assert "pairing" not in after  # Django's lost update, which the streams no longer cause


# --- The ASGI application itself --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "file"),
    [
        ("/static/css/madoguchi.css", ROOT / "static" / "css" / "madoguchi.css"),
        (  # larger than one chunk
            "/static/admin/js/vendor/jquery/jquery.js",
            Path(django.__file__).parent / "contrib" / "admin" / "static" / "admin" / "js" / "vendor" / "jquery"
            / "jquery.js",
        ),
    ],
)  # fmt: skip
def test_static_files_stream_under_asgi_without_sync_iterator_warnings(
    server: str, url: str, file: Path
) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        response = requests.get(server + url, timeout=WAIT)
        ranged = requests.get(server + url, headers={"Range": "bytes=10-19"}, timeout=WAIT)
    assert response.status_code == 200
    assert response.content == file.read_bytes()
    assert response.headers["X-Content-Type-Options"] == "nosniff"  # the middleware still applies
    assert ranged.status_code == 206
    assert ranged.content == file.read_bytes()[10:20]
    assert not [w for w in caught if "iterator" in str(w.message)]
