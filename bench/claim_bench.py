"""Claim benchmark: next-task latency and throughput under concurrent annotators, against a
trivial view on the same server, and a check that no work was handed out twice.

    .venv/bin/python bench/claim_bench.py                      # 1, 8 and 32 annotators, 10 s each
    .venv/bin/python bench/claim_bench.py --clients 32 --duration 30 --workers 8 --threads 4

Builds a project with overlap 2 and 50,000 two-turn conversations (user, assistant), so
100,000 open tasks, through the import service (the bulk path, which creates the tasks), 32
annotators with API tokens, and ANALYZEs the tables (as autovacuum would shortly after an
import). Serves config.wsgi with gunicorn on 127.0.0.1 (DEBUG off, no REDIS_URL: Celery is
eager and nothing is queued), by default 4 gthread workers x 8 threads: 32 threads, one per
client, so no request waits for a free thread; several processes, so Python uses both cores
despite the GIL; 32 persistent database connections. For each number of clients N, N threads
with keep-alive connections run back to back, for the same duration each:
- trivial: GET /healthz, a bare Django view running SELECT 1;
- api: GET /api/v1/me/, the same API stack as a claim (token auth, DRF, JSON) around a
  single one-row SELECT (the token lookup): the reference of the target;
- current: POST /api/v1/projects/<slug>/tasks/next/ while on a task, which returns that
  task without claiming: the same endpoint's cost without the queue;
- claim: POST .../tasks/next/ (timed), then PUT /api/v1/tasks/<id>/annotation/ submitting the
  assistant turn's required answers (timed as "submit"), as an annotator at full speed.
Each line gives requests (claims) per second, p50/p99 latency, errors, and the CPU spent per
request by the server (gunicorn and the database backends) and by the client threads; the
share of the CPU that other processes took is flagged, since it makes the figures noisy. At
the most clients the claim p99 is set against the target (issue: "p99 at 32 concurrent
within 2x of a trivial one-row-SELECT view's p99 on the same server"). Then the database is
checked for anything handed out twice or collected over the overlap ("duplicates: 0" is
required). PostgreSQL: BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/
turnwise_claim_bench, dropped and recreated).
"""

import argparse
import http.client
import json
import os
import random
import signal
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from common import Server, percentile, proc_stat, recreate, server_env, setup_django, with_children

DEFAULT_PG = "postgres://postgres@127.0.0.1:5432/turnwise_claim_bench"
SLUG = "claim-bench"
OVERLAP = 2
ANNOTATORS = 32
TARGET_RATIO = 2.0
LABEL_STUDIO = (
    "Label Studio 1.23 here: next-task p99 5.9 s with 8 annotators, 22 over-collected tasks"
)
ANSWERS = {
    "turns": {
        "1": {
            "observed_behavior": ["answered"],
            "expected_behavior": "answer",
            "factuality": "correct",
        }
    },
    "conversation": {},
    "submit": True,
}
WORDS = (  # noqa: SIM905 (a word list reads better as text)
    "account access policy claim refund wire transfer password reset device laptop vpn "
    "certificate coverage deductible premium benefit leave payroll invoice dashboard report "
    "customer employee manager support ticket request update status team office remote"
).split()


def seed(conversations: int, workdir: Path) -> list[str]:
    """The project, its conversations and open tasks, and the annotators; their tokens."""
    from django.db import connection

    from accounts.models import User
    from accounts.services import create_api_token
    from annotation import imports
    from annotation.models import Task
    from projects import services as project_services
    from projects.models import Membership

    lead = User.objects.create_user(username="bench-lead")
    project = project_services.create_project(
        creator=lead, slug=SLUG, name="Claim benchmark", overlap=OVERLAP
    )
    rng = random.Random(7)
    path = workdir / "conversations.jsonl"
    with path.open("w") as out:
        for number in range(conversations):
            turns = [
                {"role": role, "text": " ".join(rng.choices(WORDS, k=rng.randint(10, 30)))}
                for role in ("user", "assistant")
            ]
            out.write(json.dumps({"id": f"claim-{number}", "turns": turns}) + "\n")
    start = time.perf_counter()
    with path.open("rb") as stream:
        result = imports.import_conversations(project=project, stream=stream)
    elapsed = time.perf_counter() - start
    tasks = Task.objects.filter(project=project, status=Task.Status.OPEN).count()
    if result.conversations != conversations or tasks != conversations * OVERLAP:
        sys.exit(f"seeding went wrong: {result.conversations} conversations, {tasks} open tasks")

    users = [User.objects.create_user(username=f"annotator-{i:02d}") for i in range(ANNOTATORS)]
    Membership.objects.bulk_create(
        Membership(project=project, user=user, role=Membership.Role.ANNOTATOR) for user in users
    )
    tokens = [create_api_token(user=user, name="bench") for user in users]
    # Statistics as autovacuum leaves them a minute after an import (it may be off on a
    # development server). Without them the claim query's anti-join reads the project's
    # whole task index: 4.4 ms instead of 0.5 ms per claim with 100,000 tasks.
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    print(
        f"seeded {conversations:,} conversations, {tasks:,} open tasks (overlap {OVERLAP}) "
        f"in {elapsed:.1f} s; {ANNOTATORS} annotators with tokens",
        flush=True,
    )
    return tokens


@dataclass
class CpuUse:
    server: float  # seconds: gunicorn and the bench database's backends
    client: float  # seconds: this process (the client threads)
    others: float  # share of the machine used by everything else


class CpuMeter:
    """Where the CPU went during a measurement: the server (gunicorn and the bench database's
    backends), the client threads, and other processes. On a shared machine other work
    makes the figures noisy; this says how much."""

    def __init__(self, server: Server, database_url: str):
        import psycopg

        self.server_pid = server.process.pid
        self.database = database_url.rsplit("/", 1)[1]
        self.conn = psycopg.connect(database_url, autocommit=True)
        self.tick = os.sysconf("SC_CLK_TCK")

    def _server(self) -> dict[int, int]:
        pids = with_children(self.server_pid)
        pids |= {
            row[0]
            for row in self.conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                [self.database],
            )
        }
        return {pid: self._ticks(pid) for pid in pids}

    def _ticks(self, pid: int) -> int:
        fields = proc_stat(pid)
        return int(fields[11]) + int(fields[12]) if fields else 0  # utime + stime

    @staticmethod
    def _busy() -> int:
        with open("/proc/stat") as stat:
            user, nice, system, _idle, _iowait, irq, softirq, steal = map(
                int, stat.readline().split()[1:9]
            )
        return user + nice + system + irq + softirq + steal

    def start(self) -> None:
        self.started = (
            time.monotonic(),
            self._busy(),
            self._server(),
            self._ticks(os.getpid()),
        )

    def stop(self) -> CpuUse:
        start, busy, server, client = self.started
        elapsed = time.monotonic() - start
        busy = self._busy() - busy
        server = sum(ticks - server.get(pid, 0) for pid, ticks in self._server().items())
        client = self._ticks(os.getpid()) - client
        others = max(0, busy - server - client) / (elapsed * self.tick * (os.cpu_count() or 1))
        return CpuUse(server / self.tick, client / self.tick, others)

    def close(self) -> None:
        self.conn.close()


# --- The clients --------------------------------------------------------------------------


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)  # seconds, successful requests
    put_latencies: list[float] = field(default_factory=list)
    errors: Counter = field(default_factory=Counter)
    claimed: list[int] = field(default_factory=list)  # task ids handed to this client
    submitted: int = 0
    empty: int = 0  # 204: nothing left to claim


class Client:
    """One keep-alive HTTP connection; reconnects once if the server closed it."""

    def __init__(self, port: int, token: str | None = None):
        self.port = port
        self.headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if token:
            self.headers["Authorization"] = f"Token {token}"
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        for attempt in range(2):
            try:
                self.conn.request(method, path, body=body, headers=self.headers)
                response = self.conn.getresponse()
                return response.status, response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.conn.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        self.conn.close()


def get_loop(path: str):
    """A client loop that GETs `path` until the deadline, timing each answer."""

    def loop(client: Client, tally: Tally, deadline: float) -> None:
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            status, _ = client.request("GET", path)
            elapsed = time.perf_counter() - start
            if status == 200:
                tally.latencies.append(elapsed)
            else:
                tally.errors[f"GET {path} {status}"] += 1

    return loop


trivial_loop = get_loop("/healthz")
# The same API stack as a claim (token auth, DRF, JSON) and one one-row SELECT.
api_trivial_loop = get_loop("/api/v1/me/")


def claim_loop(client: Client, tally: Tally, deadline: float) -> None:
    next_path = f"/api/v1/projects/{SLUG}/tasks/next/"
    while time.perf_counter() < deadline:
        start = time.perf_counter()
        status, body = client.request("POST", next_path)
        elapsed = time.perf_counter() - start
        if status == 204:
            tally.empty += 1
            return
        if status != 200:
            tally.errors[f"POST next {status}"] += 1
            continue
        tally.latencies.append(elapsed)
        task = json.loads(body)
        tally.claimed.append(task["id"])
        payload = json.dumps({"version": task["annotation"]["version"], **ANSWERS}).encode()
        start = time.perf_counter()
        status, body = client.request("PUT", f"/api/v1/tasks/{task['id']}/annotation/", payload)
        elapsed = time.perf_counter() - start
        if status == 200:
            tally.put_latencies.append(elapsed)
            tally.submitted += 1
        else:
            tally.errors[f"PUT annotation {status}: {body[:120]!r}"] += 1


def current_loop(client: Client, tally: Tally, deadline: float) -> None:
    """The same endpoint without claiming: it returns the task the annotator is on."""
    next_path = f"/api/v1/projects/{SLUG}/tasks/next/"
    while time.perf_counter() < deadline:
        start = time.perf_counter()
        status, body = client.request("POST", next_path)
        elapsed = time.perf_counter() - start
        if status == 200:
            tally.latencies.append(elapsed)
            tally.claimed.append(json.loads(body)["id"])
        else:
            tally.errors[f"POST next (current) {status}"] += 1


def run_phase(loop, port: int, tokens: list[str | None], duration: float) -> tuple[list, float]:
    """Run `loop` in one thread per token for `duration` seconds; the tallies and elapsed."""
    clients = [Client(port, token) for token in tokens]
    tallies = [Tally() for _ in tokens]
    barrier = threading.Barrier(len(tokens) + 1)
    ends = [0.0] * len(tokens)

    def work(i: int) -> None:
        barrier.wait()
        try:
            loop(clients[i], tallies[i], start + duration)
        except Exception as exc:  # a dead connection or a timeout ends this client
            tallies[i].errors[f"{type(exc).__name__}: {exc}"] += 1
        ends[i] = time.perf_counter()
        clients[i].close()

    threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(len(tokens))]
    for thread in threads:
        thread.start()
    start = time.perf_counter()
    barrier.wait()
    for thread in threads:
        thread.join()
    return tallies, max(ends) - start


def merged(tallies: list[Tally]) -> Tally:
    total = Tally()
    for tally in tallies:
        total.latencies += tally.latencies
        total.put_latencies += tally.put_latencies
        total.errors += tally.errors
        total.claimed += tally.claimed
        total.submitted += tally.submitted
        total.empty += tally.empty
    return total


# --- Checking ---------------------------------------------------------------------------


def duplicates(claims_by_client: dict[int, list[int]]) -> tuple[int, list[str]]:
    """Everything handed out twice or collected over the overlap; the total and the lines."""
    from django.db import connection

    from annotation import queue
    from annotation.models import Annotation, Task
    from projects.models import Project

    project = Project.objects.get(slug=SLUG)
    task_table = Task._meta.db_table
    annotation_table = Annotation._meta.db_table
    live = tuple(str(status) for status in Task.LIVE_STATUSES)
    checks = {
        "annotator with two tasks on one conversation": (
            f"SELECT count(*) FROM (SELECT 1 FROM {task_table} WHERE project_id = %s "
            "AND assignee_id IS NOT NULL GROUP BY conversation_id, assignee_id "
            "HAVING count(*) > 1) d",
            [project.pk],
        ),
        f"conversations with over {OVERLAP} live tasks": (
            f"SELECT count(*) FROM (SELECT 1 FROM {task_table} WHERE project_id = %s "
            "AND status = ANY(%s) GROUP BY conversation_id HAVING count(*) > %s) d",
            [project.pk, list(live), OVERLAP],
        ),
        f"conversations with over {OVERLAP} submitted annotations": (
            f"SELECT count(*) FROM (SELECT 1 FROM {annotation_table} a JOIN {task_table} t "
            "ON t.id = a.task_id WHERE t.project_id = %s AND a.status = 'submitted' "
            "GROUP BY t.conversation_id HAVING count(*) > %s) d",
            [project.pk, OVERLAP],
        ),
        "tasks with more than one annotation": (
            f"SELECT count(*) FROM (SELECT 1 FROM {annotation_table} a JOIN {task_table} t "
            "ON t.id = a.task_id WHERE t.project_id = %s GROUP BY a.task_id "
            "HAVING count(*) > 1) d",
            [project.pk],
        ),
    }
    found = {}
    with connection.cursor() as cursor:
        for name, (sql, params) in checks.items():
            cursor.execute(sql, params)
            found[name] = cursor.fetchone()[0]
    # What the clients saw: a task id handed to two annotators.
    owners: dict[int, set[int]] = {}
    for client, task_ids in claims_by_client.items():
        for task_id in task_ids:
            owners.setdefault(task_id, set()).add(client)
    found["task ids handed to two annotators (client side)"] = sum(
        len(who) > 1 for who in owners.values()
    )
    lines = [f"  {name}: {count}" for name, count in found.items()]

    # Not duplicates, but the same run should leave the maintained counts exact.
    actual = queue.actual_counts(project)
    kept_nonzero = {bucket: count for bucket, count in queue.task_counts(project).items() if count}
    lines.append(
        "  task counts "
        + ("match the tasks" if kept_nonzero == actual else f"DIFFER: kept {kept_nonzero}")
        + f" ({', '.join(f'{k} {v:,}' for k, v in sorted(actual.items()))})"
    )
    return sum(found.values()), lines


# --- Main -------------------------------------------------------------------------------


def report(label: str, n: int, tally: Tally, elapsed: float, cpu: CpuUse) -> str:
    count = len(tally.latencies)
    errors = sum(tally.errors.values())
    line = (
        f"{label:<8} N={n:>2}: {count / elapsed:8,.1f}/s  "
        f"p50 {percentile(tally.latencies, 0.50):7.1f} ms  "
        f"p99 {percentile(tally.latencies, 0.99):7.1f} ms  errors {errors}  "
        f"CPU per request: server {cpu.server * 1000 / max(count, 1):5.1f} ms, "
        f"client {cpu.client * 1000 / max(count, 1):4.1f} ms"
    )
    if cpu.others > 0.05:
        line += f"  [other processes used {cpu.others:.0%} of the CPU]"
    return line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", default="1,8,32", help="numbers of concurrent annotators")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measurement")
    parser.add_argument("--conversations", type=int, default=50_000)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=8, help="gunicorn threads per worker")
    args = parser.parse_args()
    counts = [int(n) for n in args.clients.split(",")]
    if max(counts) > ANNOTATORS:
        sys.exit(f"at most {ANNOTATORS} clients (one annotator each)")

    database_url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_PG)
    env = server_env(database_url)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        recreate(database_url, env)
        setup_django(env)
        tokens = seed(args.conversations, workdir)
        from django.db import connection

        connection.close()

        server = Server(env, args.workers, args.threads, workdir)
        print(
            f"gunicorn on 127.0.0.1:{server.port}: {args.workers} workers x {args.threads} "
            f"threads (gthread); {args.duration:g} s per measurement; "
            f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs",
            flush=True,
        )
        claims_by_client: dict[int, list[int]] = {}
        results = {}
        meter = None

        def measure(loop, tokens_: list) -> tuple[Tally, float, CpuUse]:
            meter.start()
            tallies, elapsed = run_phase(loop, server.port, tokens_, args.duration)
            cpu = meter.stop()
            for i, tally in enumerate(tallies):
                claims_by_client.setdefault(i, []).extend(tally.claimed)
            return merged(tallies), elapsed, cpu

        try:
            server.wait_ready()
            meter = CpuMeter(server, database_url)
            # Warm up every worker (imports, URL resolving, connections); not measured.
            warm = max(counts)
            run_phase(trivial_loop, server.port, [None] * warm, 1.0)
            tallies, _ = run_phase(claim_loop, server.port, tokens[:warm], 1.0)
            for i, tally in enumerate(tallies):
                claims_by_client.setdefault(i, []).extend(tally.claimed)
            if errors := merged(tallies).errors:
                sys.exit(f"the warm-up failed: {dict(errors)}\n{server.tail()}")

            for n in counts:
                trivial, elapsed, cpu = measure(trivial_loop, [None] * n)
                print(report("trivial", n, trivial, elapsed, cpu), flush=True)
                api, elapsed, cpu = measure(api_trivial_loop, tokens[:n])
                print(report("api", n, api, elapsed, cpu) + " (GET /api/v1/me/)", flush=True)
                current, elapsed, cpu = measure(current_loop, tokens[:n])
                print(report("current", n, current, elapsed, cpu), flush=True)
                claim, elapsed, cpu = measure(claim_loop, tokens[:n])
                print(report("claim", n, claim, elapsed, cpu) + " (claim+submit)", flush=True)
                put = claim.put_latencies
                line = (
                    f"{'submit':<8} {'':>4}  {'':>9}  p50 {percentile(put, 0.5):7.1f} ms  "
                    f"p99 {percentile(put, 0.99):7.1f} ms"
                )
                if claim.empty:
                    line += f"  {claim.empty} clients found no task left"
                print(line, flush=True)
                for phase in (trivial, api, current, claim):
                    for error, count in phase.errors.most_common(5):
                        print(f"         {count} x {error}")
                results[n] = (claim, trivial, current, api)
        finally:
            if meter is not None:
                meter.close()
            server.stop()
        if server.process.returncode not in (0, -signal.SIGTERM):
            print(f"gunicorn exited with {server.process.returncode}:\n{server.tail()}")

        top = max(counts)
        claim, trivial, current, api = results[top]
        claim_p99 = percentile(claim.latencies, 0.99)
        for name, reference in (("trivial API view", api), ("bare /healthz", trivial)):
            reference_p99 = percentile(reference.latencies, 0.99)
            ratio = claim_p99 / reference_p99
            verdict = "meets" if ratio <= TARGET_RATIO else "misses"
            print(
                f"claim p99 {claim_p99:.1f} ms = {ratio:.1f}x {name} p99 {reference_p99:.1f} ms "
                f"at {top} clients (target <= {TARGET_RATIO:g}x: {verdict} it)"
            )
        current_p99 = percentile(current.latencies, 0.99)
        print(
            f"  for reference, the same endpoint returning the task one is on (no claim): "
            f"p99 {current_p99:.1f} ms; claim p99 = {claim_p99 / current_p99:.1f}x that"
        )
        total, lines = duplicates(claims_by_client)
        print(f"duplicates: {total}")
        print("\n".join(lines))
        print(LABEL_STUDIO)
        if total:
            sys.exit(1)


if __name__ == "__main__":
    main()
