"""Import benchmark: conversations/s, turns/s and peak memory, against a bare COPY.

    .venv/bin/python bench/import_bench.py                      # 10,000 and 100,000, both DBs
    .venv/bin/python bench/import_bench.py --sizes 10000 --backends postgres
    .venv/bin/python bench/import_bench.py --label-studio 1556   # a same-day Label Studio rate

Generates N seeded synthetic conversations (8 turns of 40-80 words each) as native JSON
Lines and imports them through the same service the CLI, the page and the API use
(parsing, validation, de-duplication, conversations, turns and tasks, in one transaction).
Each import runs in a fresh process; its peak memory is sampled as the proportional set
size of that process and its children (the forked parser on PostgreSQL). On PostgreSQL it also
loads the same turn rows with a bare COPY into a table of the same shape: the reference
limit. PostgreSQL: BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/
turnwise_bench, recreated). Targets (issue #3): end to end at least 1/3 of the bare COPY
rate, under 250 MB peak RSS for 100,000 conversations, and 3x Label Studio's rate.
"""

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from common import ROOT, recreate, server_env, setup_django, with_children

DEFAULT_PG = "postgres://postgres@127.0.0.1:5432/turnwise_bench"
TARGET_COPY_SHARE = 1 / 3
TARGET_RSS_MB = 250
# Label Studio 1.23 importing 50,000 of these conversations on this machine: the figure
# issue #3 gives; --label-studio takes one measured the same day (README, "Performance").
LABEL_STUDIO_CONVERSATIONS_PER_S = 3300
TARGET_LABEL_STUDIO_FACTOR = 3
WORDS = (  # noqa: SIM905 (a word list reads better as text)
    "account access policy claim refund wire transfer password reset device laptop vpn "
    "certificate coverage deductible premium benefit leave payroll invoice dashboard report "
    "export token limit error timeout please could would should cannot the a an of to in "
    "for with on your our we you it is are was be been this that which when how why what "
    "customer employee manager support ticket request update status team office remote"
).split()


def generate(path: Path, count: int, seed: int = 7) -> int:
    """Write `count` conversations of 8 turns (40-80 words); return the number of turns."""
    rng = random.Random(seed)
    roles = ["user", "assistant"] * 4
    with path.open("w") as out:
        for number in range(count):
            turns = [
                {"role": role, "text": " ".join(rng.choices(WORDS, k=rng.randint(40, 80)))}
                for role in roles
            ]
            out.write(json.dumps({"id": f"bench-{number}", "turns": turns}) + "\n")
    return count * len(roles)


def _process_tree_memory(root: int) -> int:
    """Proportional set size (shared pages split between sharers) of a process and its
    children, in bytes: what the import costs the machine, forked parser included."""
    total = 0
    for pid in with_children(root):
        try:
            with open(f"/proc/{pid}/smaps_rollup") as rollup:
                for line in rollup:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1]) * 1024
        except OSError:
            continue
    return total


class _MemorySampler(threading.Thread):
    def __init__(self):
        super().__init__(daemon=True)
        self.peak = 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.05):
            self.peak = max(self.peak, _process_tree_memory(os.getpid()))


def child(file: Path, backend: str) -> None:
    """Import one file into a new project and print the figures as JSON."""
    setup_django({})  # the environment prepare() made, passed down by the parent
    from accounts.models import User
    from annotation import imports
    from projects import services as project_services

    user, _ = User.objects.get_or_create(username="bench")
    project = project_services.create_project(
        creator=user, slug=f"bench-{time.time_ns()}", name="Benchmark"
    )
    sampler = _MemorySampler()
    sampler.start()
    start = time.perf_counter()
    with file.open("rb") as stream:
        result = imports.import_conversations(project=project, stream=stream)
    elapsed = time.perf_counter() - start
    sampler.done.set()
    sampler.join()
    print(
        json.dumps(
            {
                "backend": backend,
                "conversations": result.conversations,
                "turns": result.turns,
                "seconds": elapsed,
                "peak_rss_mb": sampler.peak / 2**20,
            }
        )
    )


def bare_copy(file: Path, database_url: str) -> float:
    """Turns/s of a bare COPY of the same rows into a table shaped like annotation_turn."""
    import orjson
    import psycopg

    def escape(text: str) -> str:
        return (
            text.replace("\\", "\\\\")
            .replace("\t", "\\t")
            .replace("\n", "\\n")
            .replace("\r", "\\r")
        )

    rows = []
    with file.open("rb") as stream:
        for conversation_id, line in enumerate(stream, start=1):
            for index, turn in enumerate(orjson.loads(line)["turns"]):
                rows.append(
                    f"{conversation_id}\t{index}\t{turn['role']}\t{escape(turn['text'])}\t{{}}\n"
                )
    payload = "".join(rows).encode()
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_turn")
        # Logged, with the same keys and unique index as the real table.
        conn.execute(
            "CREATE TABLE bench_turn (id bigserial PRIMARY KEY, conversation_id bigint "
            "NOT NULL, index integer NOT NULL, role varchar(16) NOT NULL, text text NOT NULL, "
            "metadata jsonb NOT NULL, UNIQUE (conversation_id, index))"
        )
        start = time.perf_counter()
        with (
            conn.transaction(),
            conn.cursor() as cursor,
            cursor.copy(
                "COPY bench_turn (conversation_id, index, role, text, metadata) FROM STDIN"
            ) as copy,
        ):
            block = 1 << 20
            for offset in range(0, len(payload), block):
                copy.write(payload[offset : offset + block])
        elapsed = time.perf_counter() - start
        conn.execute("DROP TABLE bench_turn")
    return len(rows) / elapsed


def prepare(backend: str, database_url: str, workdir: Path) -> dict[str, str]:
    if backend == "postgres":
        env = server_env(database_url)
        recreate(database_url, env)
        return env
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(SECRET_KEY="bench", VAR_DIR=str(workdir / "sqlite"))
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    return env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--backends", default="postgres,sqlite")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--backend", help=argparse.SUPPRESS)
    parser.add_argument(
        "--label-studio",
        type=float,
        default=LABEL_STUDIO_CONVERSATIONS_PER_S,
        metavar="CONV_PER_S",
        help="Label Studio's import rate to compare with (default: issue #3's figure)",
    )
    args = parser.parse_args()
    if args.child:
        child(args.child, args.backend)
        return

    database_url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_PG)
    sizes = [int(s) for s in args.sizes.split(",")]
    backends = args.backends.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        files = {}
        for size in sizes:
            files[size] = workdir / f"conversations-{size}.jsonl"
            turns = generate(files[size], size)
            print(
                f"generated {size:,} conversations, {turns:,} turns, "
                f"{files[size].stat().st_size / 2**20:,.1f} MB"
            )
        for backend in backends:
            env = prepare(backend, database_url, workdir)
            for size in sizes:
                run = subprocess.run(
                    [sys.executable, __file__, "--child", str(files[size]), "--backend", backend],
                    cwd=ROOT,
                    env=env,
                    capture_output=True,
                    text=True,
                )
                if run.returncode:
                    sys.exit(f"the {backend} import failed:\n{run.stderr}")
                figures = json.loads(run.stdout.strip().splitlines()[-1])
                conv_rate = figures["conversations"] / figures["seconds"]
                turn_rate = figures["turns"] / figures["seconds"]
                line = (
                    f"{backend:<8} N={size:>7,}: {figures['seconds']:6.1f} s  "
                    f"{conv_rate:8,.0f} conversations/s  {turn_rate:9,.0f} turns/s  "
                    f"peak memory {figures['peak_rss_mb']:5.0f} MB "
                    f"({figures['peak_rss_mb'] / TARGET_RSS_MB:.2f} of the {TARGET_RSS_MB} MB "
                    "target)"
                    f"\n{'':<8} {conv_rate / args.label_studio:.1f}x Label Studio's "
                    f"{args.label_studio:,.0f} conversations/s (target "
                    f"{TARGET_LABEL_STUDIO_FACTOR}x)"
                )
                if backend == "postgres":
                    copy_rate = bare_copy(files[size], database_url)
                    share = turn_rate / copy_rate
                    line += (
                        f"\n{'':<8} bare COPY {copy_rate:9,.0f} turns/s; end to end is "
                        f"{share:.2f} of it ({share / TARGET_COPY_SHARE:.2f} of the 1/3 target)"
                    )
                print(line, flush=True)


if __name__ == "__main__":
    main()
