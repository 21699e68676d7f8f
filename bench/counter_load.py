"""Benchmark: counter load — N clerks and N tablets doing whole visits against the app served by gunicorn with
uvicorn workers on PostgreSQL and Redis, on this machine.

Set-up (in this process, through the real code): a scratch PostgreSQL database ``madoguchi_bench_<pid>``
(migrated; the starter forms, the navigation seed and a synthetic city imported through the real importer, all by
``manage.py demo_setup --households H``), N counters each with a terminal, N clerk users, N tablets paired through
``services.pairing_code_issue`` + ``services.tablet_pair``. Clerks are logged in by a session row written in the
database as ``django.contrib.auth.login`` would write it (no password round trip: hashing 135 passwords is not what
is measured); every client holds a CSRF cookie and sends it back as ``X-CSRFToken``, so CSRF protection stays on.

Load: each clerk, in a loop for ``--seconds``, opens a session, searches the resident by kana and selects them,
interviews (転入 with a child of 8, 国保 yes), prepares the forms, saves three forms, sends them to the tablet, waits
for the resident's confirmation on its session's event stream (``sessions/<no>/events``), then finishes. Every POST
is followed by the GET of the page it redirects to, as a browser does ("page"). Each tablet keeps ``/tablet/events``
open; when its counter's session reaches 住民確認 it fetches ``/tablet/screen`` and, after reading, POSTs
``/tablet/confirm`` with a signature and the version. Between steps each side waits ``--think`` seconds on average
(uniform 0.5x-1.5x), and each clerk starts at a random moment within one visit's length (8 × think), so the run
measures the steady state rather than 135 visits starting in the same second. Residents are 22-38 years old, in
households without anyone over 65, so the forms are always the same four. A real visit takes
minutes, so the default is far harder than a real town hall.

Push latency: from the moment the acting request returned (the clerk's to-tablet POST, the tablet's confirm POST)
to the moment the other side's event stream shows the new state (0 when the event arrived before the response).

After the figures it prints where the two cores went (the app's processes, PostgreSQL, Redis, the clients, steal),
how late the clients' own event loop woke (a stall there inflates every figure; each one over 500 ms is shown with
the CPU the clients used meanwhile) and the 10-second windows with the most requests over 500 ms. ``--no-flush-wait``
turns ``synchronous_commit`` off in the scratch database, an experiment that takes the disk's flushes out of the
figures (docs/performance.md, run 24); the product never runs so.

``finish`` queues the output (PDFs, print, export) on the Celery render queue; no Celery worker runs, so no PDF is
rendered during the run (``bench/render_packet.py`` measures that). Redis uses database ``--redis-db`` (default 13;
it must be empty, and is flushed at the end).

    .venv/bin/python bench/counter_load.py                      # 135 + 135 clients, 3 workers, 60 s
    .venv/bin/python bench/counter_load.py --seconds 20 --clients 20 --households 300   # a quick look
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import platform
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BIN = Path(sys.executable).parent

PNG = (
    "data:image/png;base64,"
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
STAGGER_STEPS = 8
FORM_SAVES = [
    ("kokuho_ido", {"f_ido_bi": "2026-11-20", "f_todokedenin_kankei": "本人"}),
    ("jido_teate", {"f_seikyusha_nenkin": "国民年金（自営業など）"}),
    ("kodomo_iryo", {"f_hogosha_kankei": "母", "f_hoken_shubetsu": "国民健康保険"}),
]
INTERVIEW = {
    "life_event": ["tennyu"],
    "answer_kokuho": "yes",
    "answer_inkan": "no",
    "companion_shi": ["窓口", ""],
    "companion_mei": ["一太", ""],
    "companion_birth_date": ["2018-05-05", ""],
    "companion_zokugara": ["子", ""],
}
VERSION = re.compile(r'name="version" value="(\d+)"')
ERROR = re.compile(r'<li class="[^"]*error[^"]*" role="status">([^<]*)')
CONFIRM_WAIT = 60.0
SLOW = 0.5  # requests slower than this are placed on the run's timeline: spread out, or all in a few moments?


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- set-up ------------------------------------------------------------------------------------------------------


@dataclass
class Seat:
    counter: str
    cookies: dict[str, str]  # the clerk's session + CSRF cookies
    tablet_cookies: dict[str, str]
    residents: list[tuple[str, str]]  # (atena_no, kana to search)


def _setup(clients: int, households: int) -> list[Seat]:
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
    from django.contrib.auth.hashers import make_password
    from django.contrib.auth.models import Group
    from django.contrib.sessions.backends.db import SessionStore
    from django.core.management import call_command
    from django.db import connections
    from django.utils.crypto import get_random_string

    from counters import services
    from counters.models import Counter
    from devices.models import Terminal
    from integrations.models import Resident
    from madoguchi.accounts.roles import Role

    call_command("migrate", "--noinput", verbosity=0)
    call_command("demo_setup", households=households, stdout=io.StringIO())
    clerk_group = Group.objects.get_or_create(name=Role.CLERK.value)[0]
    password = make_password(get_random_string(20))  # one hash for all: nobody logs in by password here
    user_model = get_user_model()
    # 22-38 years old, in a household without anyone 65 or older: the same forms for every visit (no 介護保険).
    elderly_households = Resident.objects.filter(juumin_jotai="1", birth_date__year__lt=1962).values(
        "setai_no"
    )
    adults = list(
        Resident.objects.filter(juumin_jotai="1", birth_date__year__range=(1988, 2004))
        .exclude(setai_no__in=elderly_households)
        .exclude(shi_kana="")
        .order_by("?")
        .values_list("atena_no", "shi_kana", "mei_kana")[: clients * 20]
    )
    seats = []
    for i in range(1, clients + 1):
        terminal = Terminal.objects.create(
            code=f"BENCH{i:03d}", name=f"bench {i}", secret=get_random_string(32)
        )
        counter = Counter.objects.create(
            code=f"bench-{i:03d}", name=f"負荷試験 {i}番窓口", department="市民課", terminal=terminal
        )
        user = user_model.objects.create(
            username=f"bench-clerk-{i:03d}", display_name=f"職員 {i}", password=password
        )
        user.groups.add(clerk_group)
        store = SessionStore()
        store[SESSION_KEY] = str(user.pk)
        # The backend that authenticates a password (django-axes' backend, first in the list, only refuses).
        store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        store[HASH_SESSION_KEY] = user.get_session_auth_hash()
        store.create()
        csrf = get_random_string(32)
        code = services.pairing_code_issue(counter=counter, clerk=None)
        _, token = services.tablet_pair(counter_code=counter.code, code=code)
        mine = adults[(i - 1) * 20 : i * 20] or adults
        seats.append(
            Seat(
                counter=counter.code,
                cookies={
                    settings.SESSION_COOKIE_NAME: str(store.session_key),
                    settings.CSRF_COOKIE_NAME: csrf,
                },
                tablet_cookies={"madoguchi_tablet": token, settings.CSRF_COOKIE_NAME: csrf},
                residents=[(atena, f"{shi} {mei}".strip()) for atena, shi, mei in mine],
            )
        )
    connections.close_all()
    return seats


# --- load --------------------------------------------------------------------------------------------------------


@dataclass
class Figures:
    latency: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    push: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    push_missed: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    visits: int = 0
    samples: dict[str, str] = field(default_factory=dict)  # the first message of each kind of failed visit
    # (reception_no, state) -> when the request that made it returned; (side, reception_no, state) -> first seen
    acted: dict[tuple[str, str], float] = field(default_factory=dict)
    seen: dict[tuple[str, str, str], float] = field(default_factory=dict)
    slow: list[tuple[float, float]] = field(default_factory=list)  # (when it started, seconds) of each > SLOW
    began: float = 0.0
    # How late this process's event loop woke a 50 ms sleep; the stalls over SLOW: (when, lag, CPU it used meanwhile).
    loop_lag: list[float] = field(default_factory=list)
    stalls: list[tuple[float, float, float]] = field(default_factory=list)

    def record(self, name: str, started: float) -> None:
        took = time.perf_counter() - started
        self.latency[name].append(took)
        if took > SLOW:
            self.slow.append((started, took))


async def _sse(client, url: str, on_event, ready: asyncio.Event | None = None) -> None:
    """Read a server-sent-event stream and call ``on_event(kind, data)`` for each event until cancelled."""
    async with client.stream("GET", url, timeout=None) as response:
        if response.status_code != 200:
            raise RuntimeError(f"{url}: {response.status_code}")
        kind, data = "message", list[str]()
        async for line in response.aiter_lines():
            if line == "":
                if data:
                    with contextlib.suppress(ValueError):
                        on_event(kind, json.loads("\n".join(data)))
                    if ready is not None and kind == "snapshot":
                        ready.set()
                kind, data = "message", list[str]()
            elif line.startswith("event:"):
                kind = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].strip())


class Clerk:
    def __init__(self, seat: Seat, base: str, figures: Figures, think: float, end: float) -> None:
        import httpx

        self.seat, self.figures, self.think, self.end = seat, figures, think, end
        self.client = httpx.AsyncClient(
            base_url=base,
            cookies=seat.cookies,
            headers={"X-CSRFToken": seat.cookies["csrftoken"]},
            timeout=60,
            verify=False,  # plain HTTP; building 270 TLS contexts stalled the clients for seconds
            follow_redirects=False,
        )
        self.version = 0

    async def pause(self) -> None:
        await asyncio.sleep(random.uniform(0.5, 1.5) * self.think)

    async def timed(self, name: str, method: str, url: str, **kwargs):
        started = time.perf_counter()
        try:
            response = await self.client.request(method, url, **kwargs)
        except Exception:
            self.figures.errors[name] += 1
            raise
        self.figures.record(name, started)
        if response.status_code >= 400:
            self.figures.errors[name] += 1
            raise RuntimeError(f"{name}: HTTP {response.status_code}")
        return response

    async def page(self, url: str, params: dict | None = None, name: str = "page") -> str:
        response = await self.timed(name, "GET", url, params=params)
        text = response.text
        found = VERSION.search(text)
        if found:
            self.version = int(found.group(1))
        return text

    async def step(self, name: str, url: str, data: dict | None = None) -> float:
        response = await self.timed(name, "POST", url, data={"version": self.version, **(data or {})})
        returned = time.perf_counter()
        if response.status_code != 302:
            self.figures.errors[name] += 1
            raise RuntimeError(f"{name}: HTTP {response.status_code}")
        text = await self.page(response.headers["location"])
        refused = ERROR.search(text)
        if refused:
            self.figures.errors[name] += 1
            raise RuntimeError(f"{name}: refused: {refused.group(1)}")
        return returned

    async def visit(self) -> None:
        response = await self.timed("open", "POST", "/sessions/", data={"counter": self.seat.counter})
        url = response.headers["location"]
        no = url.rstrip("/").rsplit("/", 1)[-1]
        await self.page(url)
        output = asyncio.Event()
        ready = asyncio.Event()

        def on_event(kind: str, data: dict) -> None:
            state = data.get("state")
            if state and ("clerk", no, state) not in self.figures.seen:
                self.figures.seen[("clerk", no, state)] = time.perf_counter()
            if state == "output":
                output.set()

        stream = asyncio.create_task(_sse(self.client, f"{url}events", on_event, ready))
        try:
            await asyncio.wait_for(ready.wait(), 30)
            atena, kana = random.choice(self.seat.residents)
            await self.pause()
            await self.page(url, params={"name": kana}, name="search")
            await self.step("identify", f"{url}identify", {"atena_no": atena})
            await self.pause()
            await self.step("interview", f"{url}interview", INTERVIEW)
            await self.pause()
            await self.step("prepare", f"{url}prepare")
            for form, values in FORM_SAVES:
                await self.pause()
                await self.step("form_save", f"{url}forms/{form}", values)
            await self.pause()
            self.figures.acted[(no, "confirming")] = await self.step("to_tablet", f"{url}to-tablet")
            await asyncio.wait_for(output.wait(), CONFIRM_WAIT)
            await self.page(url)  # the screen reloads what changed
            await self.pause()
            await self.step("finish", f"{url}finish")
            self.figures.visits += 1
        finally:
            stream.cancel()
            await asyncio.gather(stream, return_exceptions=True)

    async def run(self) -> None:
        # Start at a random moment within one visit's length (about 8 steps): at a counter, visits do not begin in
        # the same second, so the run measures the steady state, not 135 clerks starting together.
        await asyncio.sleep(random.uniform(0, self.think * STAGGER_STEPS))
        while time.perf_counter() < self.end:
            try:
                await self.visit()
            except Exception as error:  # counted; the next visit starts
                self.figures.errors[f"visit ({type(error).__name__})"] += 1
                self.figures.samples.setdefault(type(error).__name__, str(error)[:300])
                await asyncio.sleep(1)
        await self.client.aclose()


class Tablet:
    def __init__(self, seat: Seat, base: str, figures: Figures, think: float) -> None:
        import httpx

        self.figures, self.think = figures, think
        self.client = httpx.AsyncClient(
            base_url=base,
            cookies=seat.tablet_cookies,
            headers={"X-CSRFToken": seat.tablet_cookies["csrftoken"]},
            timeout=60,
            verify=False,
        )
        self.handled: set[str] = set()
        self.tasks: set[asyncio.Task] = set()

    async def timed(self, name: str, method: str, url: str, **kwargs):
        started = time.perf_counter()
        try:
            response = await self.client.request(method, url, **kwargs)
        except Exception:
            self.figures.errors[name] += 1
            raise
        self.figures.record(name, started)
        if response.status_code >= 400:
            self.figures.errors[name] += 1
            raise RuntimeError(f"{name}: HTTP {response.status_code} {response.text[:200]}")
        return response

    async def confirm(self, no: str, version: int) -> None:
        await self.timed("tablet_screen", "GET", "/tablet/screen")
        await asyncio.sleep(random.uniform(0.5, 1.5) * self.think)  # the resident reads and signs
        body = {"reception_no": no, "version": version, "signature": PNG}
        await self.timed("confirm", "POST", "/tablet/confirm", json=body)
        self.figures.acted[(no, "output")] = time.perf_counter()

    def on_event(self, kind: str, data: dict) -> None:
        no, state = data.get("reception_no"), data.get("state")
        if not no or not state:
            return
        if ("tablet", no, state) not in self.figures.seen:
            self.figures.seen[("tablet", no, state)] = time.perf_counter()
        if state == "confirming" and no not in self.handled:
            self.handled.add(no)
            task = asyncio.create_task(self.confirm(no, data["version"]))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def run(self) -> None:
        while True:
            try:
                await _sse(self.client, "/tablet/events", self.on_event)
            except asyncio.CancelledError:
                break
            except Exception:
                self.figures.errors["tablet events (reconnect)"] += 1
                await asyncio.sleep(2)
        for task in list(self.tasks):
            task.cancel()
        await self.client.aclose()


async def _load(seats: list[Seat], base: str, seconds: float, think: float) -> Figures:
    figures = Figures(began=time.perf_counter())

    async def watch_loop() -> None:
        # The clients measure latency on one event loop: if it stalls, every figure taken meanwhile is inflated.
        # A stall in which this process used the CPU is the clients' own; one in which it did not is the machine's
        # (or the host's: a paused virtual machine shows no steal time).
        while True:
            planned, cpu = time.perf_counter() + 0.05, time.process_time()
            await asyncio.sleep(0.05)
            lag = time.perf_counter() - planned
            figures.loop_lag.append(lag)
            if lag > SLOW:
                figures.stalls.append((planned - figures.began, lag, time.process_time() - cpu))

    watcher = asyncio.create_task(watch_loop())
    tablets = [Tablet(seat, base, figures, think) for seat in seats]
    tablet_tasks = [asyncio.create_task(tablet.run()) for tablet in tablets]
    await asyncio.sleep(2)  # the tablets' streams are open before the first visit
    end = time.perf_counter() + seconds
    clerks = [Clerk(seat, base, figures, think, end) for seat in seats]
    await asyncio.gather(*(clerk.run() for clerk in clerks))
    for task in [*tablet_tasks, watcher]:
        task.cancel()
    await asyncio.gather(*tablet_tasks, watcher, return_exceptions=True)
    for (no, state), acted in figures.acted.items():
        side = "tablet" if state == "confirming" else "clerk"
        label = "to_tablet → tablet" if side == "tablet" else "confirm → clerk"
        seen = figures.seen.get((side, no, state))
        if seen is None:
            figures.push_missed[label] += 1
        else:
            figures.push[label].append(max(0.0, seen - acted))
    return figures


# --- the server --------------------------------------------------------------------------------------------------


def _serve(port: int, workers: int, log: Path) -> subprocess.Popen[bytes]:
    import httpx

    command = [
        str(BIN / "gunicorn"),
        "madoguchi.asgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        "--worker-class",
        "uvicorn_worker.UvicornWorker",
        "--workers",
        str(workers),
        "--graceful-timeout",
        "5",
        "--timeout",
        "120",
    ]
    # Each process's pool may grow to MADOGUCHI_DB_POOL_MAX: keep them all below max_connections (100).
    env = {"MADOGUCHI_DB_POOL_MAX": str(min(20, 80 // workers)), **os.environ}
    server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        if server.poll() is not None:
            break
        time.sleep(0.3)
    server.kill()
    raise SystemExit(f"the server did not start; see {log}:\n{log.read_text()[-2000:]}")


def _print(figures: Figures, args: argparse.Namespace, seconds: float) -> None:
    print(
        f"machine: {os.cpu_count()} cores, {platform.machine()}, load average before the run "
        f"{args.loadavg[0]:.2f}/{args.loadavg[1]:.2f}/{args.loadavg[2]:.2f}"
    )
    print(
        f"config: {args.workers} gunicorn workers (uvicorn), {args.clients} clerks + {args.clients} tablets, "
        f"{args.seconds:.0f} s of new visits (run {seconds:.0f} s), think {args.think:g} s, "
        f"{args.residents} residents" + (", commits not waiting for the disk" if args.no_flush_wait else "")
    )
    requests = sum(len(values) for values in figures.latency.values())
    print(f"visits finished: {figures.visits}; requests: {requests} ({requests / seconds:.0f}/s)")
    print()
    columns = f"{'count':>6} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}"
    print(f"  {'interaction':22} {columns} {'errors':>6}  goal p95 < 200 ms")
    order = ["open", "page", "search", "identify", "interview", "prepare", "form_save", "to_tablet"]
    order += ["tablet_screen", "confirm", "finish"]
    ok = True
    for name in order + sorted(set(figures.latency) - set(order)):
        values = figures.latency.get(name, [])
        if not values:
            continue
        p95 = _percentile(values, 0.95)
        met = p95 < 0.2
        ok &= met
        print(
            f"  {name:22} {len(values):6} {_percentile(values, 0.5) * 1000:8.0f} {p95 * 1000:8.0f} "
            f"{max(values) * 1000:8.0f} {figures.errors.get(name, 0):6}  {'met' if met else 'NOT met'}"
        )
    print()
    print(f"  {'push':22} {'count':>6} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'missed':>6}  goal < 1 s")
    for label, values in sorted(figures.push.items()):
        met = max(values) < 1.0
        ok &= met
        print(
            f"  {label:22} {len(values):6} {_percentile(values, 0.5) * 1000:8.0f} "
            f"{_percentile(values, 0.95) * 1000:8.0f} {max(values) * 1000:8.0f} "
            f"{figures.push_missed.get(label, 0):6}  {'met' if met else 'NOT met'} (max)"
        )
    other = {name: count for name, count in figures.errors.items() if name not in figures.latency}
    if other:
        print(f"  other errors: {dict(sorted(other.items()))}")
        for kind, sample in figures.samples.items():
            print(f"    e.g. {kind}: {sample}")
    print()
    lag = figures.loop_lag or [0.0]
    print(
        f"the clients' event loop woke late by p50 {_percentile(lag, 0.5) * 1000:.0f} ms, "
        f"p99 {_percentile(lag, 0.99) * 1000:.0f} ms, max {max(lag) * 1000:.0f} ms (inflates the figures above)"
    )
    for when, stalled, cpu in figures.stalls:
        print(
            f"  stalled at +{when:.0f} s for {stalled * 1000:.0f} ms, of which the clients ran {cpu * 1000:.0f} ms"
        )
    windows: dict[int, int] = defaultdict(int)
    for started, _took in figures.slow:
        windows[int((started - figures.began) // 10) * 10] += 1
    busiest = sorted(windows.items(), key=lambda item: -item[1])[:5]
    print(
        f"requests over {SLOW * 1000:.0f} ms: {len(figures.slow)}; the busiest 10-second windows (s from the start: "
        f"count): {', '.join(f'+{start}: {count}' for start, count in sorted(busiest)) or 'none'}"
    )
    print()
    print(f"goal {'met' if ok else 'NOT met'}: p95 < 200 ms for every interaction, every push < 1 s")


def _server_errors(log: Path) -> None:
    """The server's own complaints during the run, counted by kind (exception lines, worker timeouts)."""
    kinds: dict[str, int] = defaultdict(int)
    for line in log.read_text(errors="replace").splitlines():
        found = re.search(r"(\w+(?:\.\w+)*(?:Error|Exception|Timeout)\b:?.{0,90})|(WORKER TIMEOUT)", line)
        if found:
            kinds[re.sub(r"\d+", "N", found.group(0))] += 1
    if kinds:
        print("server log:")
        for kind, count in sorted(kinds.items(), key=lambda item: -item[1])[:8]:
            print(f"  {count:6}  {kind}")


# --- where the two cores went -------------------------------------------------------------------------------------


def _machine_ticks() -> dict[str, int]:
    """The machine's CPU time so far by kind, in clock ticks (the first line of /proc/stat)."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]
    names = ["user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal"]
    return dict(zip(names, map(int, fields), strict=True))


def _process_ticks(server_pid: int) -> dict[str, int]:
    """CPU time (user + system, clock ticks) so far of the app (the gunicorn master and its workers), PostgreSQL,
    Redis and this benchmark's own process (the 270 clients)."""
    ticks: dict[str, int] = defaultdict(int)
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # the process ended meanwhile
            continue
        pid = int(stat.parent.name)
        comm = text[text.index("(") + 1 : text.rindex(")")]
        rest = text[text.rindex(")") + 2 :].split()
        ppid, used = int(rest[1]), int(rest[11]) + int(rest[12])
        if pid == os.getpid():
            ticks["clients (this process)"] += used
        elif server_pid in (pid, ppid):
            ticks["app (gunicorn workers)"] += used
        elif comm.startswith("postgres"):
            ticks["PostgreSQL"] += used
        elif comm.startswith("redis"):
            ticks["Redis"] += used
    return ticks


def _print_cpu(
    before: tuple[dict[str, int], dict[str, int]], after: tuple[dict[str, int], dict[str, int]]
) -> None:
    machine = {kind: after[0][kind] - before[0][kind] for kind in after[0]}
    total = sum(machine.values()) or 1
    cores = os.cpu_count() or 1
    busy = total - machine["idle"] - machine["iowait"]
    print(
        f"CPU over the run: {busy / total * cores:.2f} of {cores} cores busy, "
        f"idle {machine['idle'] / total:.0%}, steal {machine['steal'] / total:.1%} (time taken by the host)"
    )
    hz = os.sysconf("SC_CLK_TCK")
    seconds = total / cores / hz
    used = {kind: after[1][kind] - before[1].get(kind, 0) for kind in after[1]}
    print(
        "  by process, in cores: "
        + ", ".join(f"{kind} {ticks / hz / seconds:.2f}" for kind, ticks in sorted(used.items()))
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=135, help="clerks, and as many tablets")
    parser.add_argument("--workers", type=int, default=3, help="gunicorn worker processes")
    parser.add_argument("--seconds", type=float, default=60, help="how long clerks start new visits")
    parser.add_argument("--think", type=float, default=1.0, help="mean pause between a person's steps, s")
    parser.add_argument("--households", type=int, default=1000, help="the synthetic city's households")
    parser.add_argument("--redis-db", type=int, default=13)
    parser.add_argument(
        "--no-flush-wait",
        action="store_true",
        help="commits in the scratch database do not wait for the disk (synchronous_commit off): an experiment "
        "that takes the machine's disk out of the figures, never a production setting",
    )
    args = parser.parse_args()
    args.loadavg = os.getloadavg()

    import psycopg
    import redis

    name = f"madoguchi_bench_{os.getpid()}"
    redis_url = f"redis://127.0.0.1:6379/{args.redis_db}"
    if redis.Redis.from_url(redis_url).dbsize():
        raise SystemExit(f"Redis database {args.redis_db} is not empty; choose another with --redis-db")
    scratch = tempfile.TemporaryDirectory(prefix="madoguchi-bench-")
    os.environ.update(
        DJANGO_SETTINGS_MODULE="madoguchi.settings",
        MADOGUCHI_VAR_DIR=scratch.name,
        DATABASE_URL=f"postgres://postgres@127.0.0.1:5432/{name}",
        REDIS_URL=redis_url,
    )
    admin = psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True)
    admin.execute(f'CREATE DATABASE "{name}"')
    if args.no_flush_wait:
        admin.execute(f'ALTER DATABASE "{name}" SET synchronous_commit = off')
    server = None
    try:
        started = time.perf_counter()
        seats = _setup(args.clients, args.households)
        from integrations.models import Resident

        args.residents = Resident.objects.count()
        from django.db import connections

        connections.close_all()
        import logging

        logging.getLogger("httpx").setLevel(logging.WARNING)
        print(f"set-up: {time.perf_counter() - started:.0f} s ({args.residents} residents)", flush=True)
        port = _free_port()
        server = _serve(port, args.workers, Path(scratch.name) / "gunicorn.log")
        started = time.perf_counter()
        cpu_before = (_machine_ticks(), _process_ticks(server.pid))
        figures = asyncio.run(_load(seats, f"http://127.0.0.1:{port}", args.seconds, args.think))
        cpu_after = (_machine_ticks(), _process_ticks(server.pid))
        _print(figures, args, time.perf_counter() - started)
        _print_cpu(cpu_before, cpu_after)
        _server_errors(Path(scratch.name) / "gunicorn.log")
    finally:
        if server is not None:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(20)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        from django.db import connections

        connections.close_all()
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
        redis.Redis.from_url(redis_url).flushdb()
        scratch.cleanup()


if __name__ == "__main__":
    main()
