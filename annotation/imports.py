"""Import conversation files into a project: all of it or nothing, at database speed.

One thread reads and checks the file (`annotation.importers`) while the calling thread
writes what it hands over, so parsing and writing overlap. On PostgreSQL rows go in with
COPY, already formatted by the parsing thread; elsewhere with bulk INSERTs. Everything is
written in one transaction: a bad record anywhere rolls the whole import back.

Import jobs wrap this for uploads: a Celery task runs them, the page and the API poll them.
"""

import os
import pickle
import signal
import sys
import threading
import traceback
import zlib
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import closing, suppress
from dataclasses import dataclass
from pathlib import Path
from queue import Empty, Full, Queue
from typing import IO, Any, TypeVar

import orjson
from django.conf import settings
from django.core.cache import cache
from django.core.files import File
from django.db import connection, reset_queries, transaction
from django.db.models import F
from django.template.defaultfilters import filesizeformat
from django.utils import timezone

from accounts.models import User
from annotation import importers, jobs, queue
from annotation.exceptions import ImportFailed, InvalidInput, NotFound
from annotation.models import Conversation, ImportJob, Task, Turn
from projects import services as project_services
from projects.models import Project

BATCH_SIZE = 1000
FIRST_BATCH_SIZE = 100
T = TypeVar("T")


@dataclass
class ImportResult:
    format: str | None
    conversations: int = 0
    turns: int = 0
    skipped: int = 0
    processed: int = 0  # records (and problems) read
    bytes_read: int = 0
    bytes_total: int = 0


@dataclass
class _Prepared:
    """A parsed conversation with the id it will have in the project, ready to write."""

    external_id: str
    turn_count: int
    # The parsed conversation, for the ORM writer; the COPY writer only needs its rows.
    data: importers.ConversationData | None
    # PostgreSQL only: its rows in COPY's text format (conversation, turns, tasks).
    rows: tuple[bytes, bytes, bytes] | None = None
    # Its turns' fingerprints, to tell the same conversation again (in another export form,
    # with other turn metadata: the same text_hash) from another one that has its id; and
    # where it is in the file, to say so.
    content_hash: str = ""
    text_hash: str = ""
    where: importers.Where | None = None


@dataclass
class _Chunk:
    items: list[_Prepared | importers.Problem]
    format: str | None
    position: int  # bytes of the uploaded file read so far


# --- Writing --------------------------------------------------------------------------------


def _existing(project: Project, ids: list[str]) -> dict[str, str]:
    """The content hash of each of these ids the project already has."""
    if connection.vendor == "postgresql":
        # One array parameter instead of a thousand: much cheaper to send and plan. And one
        # index probe per id (the LIMIT keeps the planner from flattening the subquery):
        # `external_id = ANY(...)` let it scan every row the import had written so far,
        # since the statistics of a project being imported say it is small.
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT ids.external_id, found.content_hash "
                "FROM unnest(%s::text[]) AS ids(external_id), "
                "LATERAL (SELECT c.content_hash FROM "
                f"{connection.ops.quote_name(Conversation._meta.db_table)} AS c "
                "WHERE c.project_id = %s AND c.external_id = ids.external_id LIMIT 1) AS found",
                [ids, project.pk],
            )
            return dict(cursor.fetchall())
    return dict(
        Conversation.objects.filter(project=project, external_id__in=ids).values_list(
            "external_id", "content_hash"
        )
    )


def _stored_text_hashes(project: Project, ids: list[str]) -> dict[str, str]:
    """The text_hash of each of these conversations of the project, from its stored turns."""
    turns: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for external_id, role, text in (
        Turn.objects.filter(conversation__project=project, conversation__external_id__in=ids)
        .order_by("conversation_id", "index")
        .values_list("conversation__external_id", "role", "text")
    ):
        turns[external_id].append((role, text))
    return {external_id: importers.turns_text_hash(pairs) for external_id, pairs in turns.items()}


class _Writer:
    """Bulk INSERTs through the ORM: any database."""

    def __init__(self, project: Project, job: ImportJob | None = None):
        self.project = project
        self.job = job
        self.now = timezone.now()

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def finish(self) -> None:
        pass

    def after_chunk(self) -> None:
        pass

    def prepare(self, data: importers.ConversationData) -> _Prepared:
        """Runs in the parsing thread: everything that needs no database."""
        content_hash = data.content_hash()
        return _Prepared(
            external_id=data.external_id or f"sha256:{content_hash[:32]}",
            turn_count=len(data.turns),
            data=data,
            content_hash=content_hash,
            text_hash=data.text_hash(),
        )

    def write(self, batch: list[_Prepared]) -> None:
        rows = Conversation.objects.bulk_create(
            Conversation(
                project=self.project,
                import_job=self.job,
                external_id=item.external_id,
                content_hash=item.content_hash,
                metadata=item.data.metadata,
                turn_count=len(item.data.turns),
                created_at=self.now,
            )
            for item in batch
        )
        # Plain executemany for the many small rows: no model instances to build.
        now = connection.ops.adapt_datetimefield_value(self.now)
        _insert_many(
            Turn,
            ["conversation_id", "index", "role", "text", "metadata"],
            (
                (row.pk, index, t.role, t.text, orjson.dumps(t.metadata).decode())
                for row, item in zip(rows, batch, strict=True)
                for index, t in enumerate(item.data.turns)
            ),
        )
        _insert_many(
            Task,
            ["project_id", "conversation_id", "status", "priority", "created_at"],
            (
                (self.project.pk, row.pk, Task.Status.OPEN.value, 0, now)
                for row in rows
                for _ in range(self.project.overlap)
            ),
        )


def _insert_many(model, columns: list[str], rows: Iterator[tuple]) -> None:
    quote = connection.ops.quote_name
    sql = (
        f"INSERT INTO {quote(model._meta.db_table)} ({', '.join(quote(c) for c in columns)}) "
        f"VALUES ({', '.join(['%s'] * len(columns))})"
    )
    with connection.cursor() as cursor:
        cursor.executemany(sql, list(rows))


def _copy_text(value: str) -> str:
    """Escape a value for COPY's text format."""
    if "\\" in value:
        value = value.replace("\\", "\\\\")
    return value.replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _json(value: dict) -> str:
    return _copy_text(orjson.dumps(value).decode()) if value else "{}"


class _CopyWriter(_Writer):
    """PostgreSQL's COPY for every row, formatted by the parsing thread.

    To format a row the parsing thread needs the conversation's id, so ids are taken from
    the table's sequence in blocks of BATCH_SIZE ahead of it: two blocks at the start, one
    more for every chunk handed over. A chunk never needs more than a block, so the parser
    is never stuck, and it is never more than a few thousand ids ahead.
    """

    ID_BLOCKS_AHEAD = 2

    def __init__(self, project: Project, job: ImportJob | None = None):
        super().__init__(project, job)
        self.job_column = str(job.pk) if job else "\\N"  # COPY's NULL
        self.ids: Queue[list[int]] = Queue()
        # Where reserved ids go: this queue for a parsing thread, a pipe for a process.
        self.send_ids: Callable[[list[int]], None] = self.ids.put
        self.block: list[int] = []
        self.stopped = threading.Event()
        self.created = self.now.isoformat()
        self.task_row = f"{project.pk}\t{{pk}}\t{Task.Status.OPEN.value}\t0\t{self.created}\n"

    def start(self) -> None:
        with connection.cursor() as cursor:
            # Check foreign keys as each COPY ends, while the next chunk is being parsed,
            # rather than all at commit, when nothing else is left to run beside them.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            # Named once: pg_get_serial_sequence() per id would cost more than nextval().
            cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [Conversation._meta.db_table])
            self.sequence = cursor.fetchone()[0]
        for _ in range(self.ID_BLOCKS_AHEAD):
            self._reserve_ids()

    def stop(self) -> None:
        self.stopped.set()

    def finish(self) -> None:
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")  # back to Django's default

    def after_chunk(self) -> None:
        self._reserve_ids()

    def _reserve_ids(self) -> None:
        with connection.cursor() as cursor:
            # One array, not a thousand rows: less to send and to turn into Python.
            cursor.execute(
                "SELECT array_agg(id ORDER BY id DESC) FROM "
                "(SELECT nextval(%s::regclass) AS id FROM generate_series(1, %s)) AS ids",
                [self.sequence, BATCH_SIZE],
            )
            # Descending, so that pop() hands them out in order: file order is id order.
            self.send_ids(cursor.fetchone()[0])

    def _next_id(self) -> int:
        while not self.block:
            try:
                self.block = self.ids.get(timeout=0.1)
            except Empty:
                if self.stopped.is_set():
                    raise _Stopped from None
        return self.block.pop()

    def prepare(self, data: importers.ConversationData) -> _Prepared:
        item = super().prepare(data)
        pk = self._next_id()
        conversation = (
            f"{pk}\t{self.project.pk}\t{_copy_text(item.external_id)}\t{item.content_hash}\t"
            f"{_json(data.metadata)}\t{len(data.turns)}\t{self.created}\t{self.job_column}\n"
        )
        turns = "".join(
            f"{pk}\t{index}\t{t.role}\t{_copy_text(t.text)}\t{_json(t.metadata)}\n"
            for index, t in enumerate(data.turns)
        )
        tasks = self.task_row.format(pk=pk) * self.project.overlap
        item.rows = (conversation.encode(), turns.encode(), tasks.encode())
        item.data = None  # the rows say it all; lighter to keep or to send
        return item

    def write(self, batch: list[_Prepared]) -> None:
        for position, (model, columns) in enumerate(
            (
                (Conversation, _CONVERSATION_COLUMNS),
                (Turn, ["conversation_id", "index", "role", "text", "metadata"]),
                (Task, ["project_id", "conversation_id", "status", "priority", "created_at"]),
            )
        ):
            quote = connection.ops.quote_name
            sql = (
                f"COPY {quote(model._meta.db_table)} "
                f"({', '.join(quote(c) for c in columns)}) FROM STDIN"
            )
            with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
                copy.write(b"".join(item.rows[position] for item in batch))


_CONVERSATION_COLUMNS = [
    "id",
    "project_id",
    "external_id",
    "content_hash",
    "metadata",
    "turn_count",
    "created_at",
    "import_job_id",
]


class _Stopped(Exception):
    """The writer stopped: the parsing thread must end."""


# --- Parsing in the background ----------------------------------------------------------


def _parse_in_chunks(
    stream: IO[bytes],
    format: str | None,
    prepare: Callable[[importers.ConversationData], _Prepared],
) -> Iterator[_Chunk]:
    items: list[_Prepared | importers.Problem] = []
    detected = format
    # Small at first, so that writing starts at once, then doubling up to BATCH_SIZE: the
    # parser is a few times faster than the writer, so it stays a chunk ahead of it.
    size = min(FIRST_BATCH_SIZE, BATCH_SIZE)
    try:
        content = importers.open_stream(stream)
        for where, item, name in importers.iter_conversations(content, format):
            detected = detected or name
            if isinstance(item, importers.ConversationData):
                item = prepare(item)
                item.where = where
            items.append(item)
            if len(items) >= size:
                yield _Chunk(items, detected, stream.tell())
                items = []
                size = min(size * 2, BATCH_SIZE)
    except (OSError, EOFError, zlib.error) as exc:  # a damaged or truncated .gz
        items.append(importers.Problem(line=None, message=f"cannot read the file: {exc}"))
    except _Stopped:
        return
    yield _Chunk(items, detected, stream.tell())


def _in_background(
    items: Iterator[T], *, depth: int = 4, on_stop: Callable[[], None] | None = None
) -> Iterator[T]:
    """Run a generator in a thread, up to `depth` items ahead of the consumer.

    Parsing holds the GIL while the database work waits on the socket, so running them in
    two threads overlaps the two instead of adding them up.
    """
    queue: Queue = Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        queue.put(item, timeout=0.1)
                        break
                    except Full:
                        continue
                if stop.is_set():
                    return
            queue.put(done)
        except BaseException as exc:  # handed to the consumer, which raises it
            queue.put(exc)

    thread = threading.Thread(target=produce, name="import-parser", daemon=True)
    thread.start()
    try:
        while (item := queue.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        if on_stop:
            on_stop()
        thread.join()


def _can_fork() -> bool:
    return settings.IMPORT_PARSE_IN_PROCESS and sys.platform == "linux"


def _send(pipe: IO[bytes], value: Any) -> None:
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    pipe.write(len(data).to_bytes(8, "little") + data)
    pipe.flush()


def _receive(pipe: IO[bytes]) -> Any:
    """The next value sent down a pipe, or None at its end."""
    size = pipe.read(8)
    if len(size) < 8:
        return None
    return pickle.loads(pipe.read(int.from_bytes(size, "little")))


class _ForkedParse:
    """Parse in a forked child process and hand the chunks over a pipe.

    A thread shares the GIL with the writer and slows it; a child process parses on the
    other core. Forking (Linux) starts it at once with everything already imported, and it
    never touches the database: ids come from the parent over a second pipe.
    """

    def __init__(self, stream: IO[bytes], format: str | None, writer: _CopyWriter):
        ids_read, ids_write = os.pipe()
        out_read, out_write = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:  # the child: parse, send, and leave without any cleanup
            status = 1
            try:
                os.close(ids_write)
                os.close(out_read)
                self._child(stream, format, writer, ids_read, out_write)
                status = 0
            finally:
                os._exit(status)
        os.close(ids_read)
        os.close(out_write)
        self.ids = os.fdopen(ids_write, "wb")
        self.out = os.fdopen(out_read, "rb")
        writer.send_ids = self._send_ids
        # A thread drains the child's pipe, so the child never waits while we write.
        self.chunks: Queue = Queue()
        self.reader = threading.Thread(target=self._read, name="import-reader", daemon=True)
        self.reader.start()

    @staticmethod
    def _child(stream, format, writer: _CopyWriter, ids_read: int, out_write: int) -> None:
        ids = os.fdopen(ids_read, "rb")
        out = os.fdopen(out_write, "wb")
        block: list[int] = []

        def next_id() -> int:
            nonlocal block
            while not block:
                block = _receive(ids)
                if block is None:
                    raise _Stopped
            return block.pop()

        writer._next_id = next_id
        try:
            for chunk in _parse_in_chunks(stream, format, writer.prepare):
                _send(out, chunk)
            _send(out, "done")
        except BrokenPipeError:
            pass  # the parent stopped reading
        except BaseException:
            _send(out, traceback.format_exc())

    def _send_ids(self, block: list[int]) -> None:
        with suppress(BrokenPipeError):  # a child that has finished needs no more
            _send(self.ids, block)

    def _read(self) -> None:
        while (value := _receive(self.out)) is not None:
            self.chunks.put(value)
            if not isinstance(value, _Chunk):
                return
        self.chunks.put(None)

    def __iter__(self) -> Iterator[_Chunk]:
        while True:
            value = self.chunks.get()
            if value == "done":
                return
            if not isinstance(value, _Chunk):
                raise RuntimeError(f"the parsing process failed: {value or 'it stopped'}")
            yield value

    def close(self) -> None:
        with suppress(BrokenPipeError):
            self.ids.close()  # a child waiting for ids stops
        with suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)
        self.reader.join()
        self.out.close()


def _stream_size(stream: IO[bytes]) -> int:
    position = stream.tell()
    size = stream.seek(0, 2)
    stream.seek(position)
    return size


def import_conversations(
    *,
    project: Project,
    stream: IO[bytes],
    format: str | None = None,
    on_progress: Callable[[ImportResult], None] | None = None,
    job: ImportJob | None = None,
) -> ImportResult:
    """Import a file of conversations into a project: all of it, or nothing.

    `stream` is the file as uploaded (seekable; gzip is recognised). Conversations whose
    id (or, without one, content) the project already has are skipped, so running an
    import twice is harmless; a different conversation (other roles or texts) under an id
    the project has is a problem at its line, never a silent skip. Every record is
    checked; with any bad record nothing is written and ImportFailed lists up to
    IMPORT_MAX_ERRORS problems by line or record.
    """
    _check_format(format)
    result = ImportResult(format=format, bytes_total=_stream_size(stream))
    problems: list[importers.Problem] = []
    max_errors = settings.IMPORT_MAX_ERRORS
    writer_class = _CopyWriter if connection.vendor == "postgresql" else _Writer
    writer = writer_class(project, job)

    with transaction.atomic():
        # One import at a time per project (uploads and the CLI alike), so two files with
        # the same ids never collide: the second waits, then skips what the first brought.
        # NO KEY UPDATE still lets other transactions insert rows that point at the project.
        Project.objects.select_for_update(no_key=True).filter(pk=project.pk).first()
        if isinstance(writer, _CopyWriter) and _can_fork():
            chunks = _ForkedParse(stream, format, writer)
        else:
            chunks = _in_background(
                _parse_in_chunks(stream, format, writer.prepare), on_stop=writer.stop
            )
        writer.start()
        with closing(chunks):
            for chunk in chunks:
                writer.after_chunk()
                result.format = result.format or chunk.format
                batch = _take_new(project, chunk.items, problems, result)
                if len(problems) >= max_errors:
                    break
                if batch and not problems:
                    writer.write(batch)
                    result.conversations += len(batch)
                    result.turns += sum(item.turn_count for item in batch)
                    if settings.DEBUG:
                        reset_queries()  # DEBUG keeps every query's SQL; bulk inserts are big
                result.bytes_read = chunk.position
                if on_progress:
                    on_progress(result)
        writer.finish()
        queue.count_moves(project.pk, {Task.Status.OPEN: result.conversations * project.overlap})
        if problems or result.processed == 0:
            transaction.set_rollback(True)
    if problems:
        shown = problems[:max_errors]
        stopped = len(problems) >= max_errors
        raise ImportFailed(
            f"{len(shown)} problem{'s' if len(shown) != 1 else ''} found"
            f"{' (checking stopped there)' if stopped else ''}; nothing was imported.",
            errors=[p.as_dict() for p in shown],
        )
    if result.processed == 0:
        raise ImportFailed("The file holds no records; nothing was imported.", errors=[])
    if connection.vendor == "postgresql" and result.conversations >= ANALYZE_AFTER:
        # Once committed. Until PostgreSQL samples the tables again it thinks a project that
        # just got its conversations has a few rows, and plans its pages for that (the
        # queue page took 280 ms instead of 60 after 100,000). Autovacuum would get there
        # eventually, but not when the import is a small share of a big table.
        transaction.on_commit(_analyze)
    return result


# An import of this many conversations or more refreshes the planner's statistics.
ANALYZE_AFTER = 20_000


def _analyze() -> None:
    tables = (Conversation, Turn, Task)
    names = ", ".join(connection.ops.quote_name(m._meta.db_table) for m in tables)
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {names}")


def _take_new(
    project: Project,
    items: list[_Prepared | importers.Problem],
    problems: list[importers.Problem],
    result: ImportResult,
) -> list[_Prepared]:
    """Collect the chunk's problems; return its conversations the project does not have yet."""
    candidates = []
    for item in items:
        result.processed += 1
        if isinstance(item, importers.Problem):
            problems.append(item)
        else:
            candidates.append(item)
    if problems or not candidates:
        return []  # after a problem keep checking, but write nothing more
    known = _existing(project, [item.external_id for item in candidates])
    # Another export form of a conversation already there has other turn metadata, so another
    # content hash: compare those by their roles and texts, read back from the stored turns.
    differing = [
        i.external_id
        for i in candidates
        if known.get(i.external_id, i.content_hash) != i.content_hash
    ]
    stored_texts = _stored_text_hashes(project, differing) if differing else {}
    in_file: dict[str, str] = {}  # the text_hash of each new conversation of this chunk
    batch = []
    for item in candidates:
        key = item.external_id
        if key in in_file:  # earlier in this chunk
            same = in_file[key] == item.text_hash
        elif key in known:  # in the project (or written from an earlier chunk)
            same = known[key] == item.content_hash or stored_texts.get(key) == item.text_hash
        else:
            in_file[key] = item.text_hash
            batch.append(item)
            continue
        if same:
            result.skipped += 1  # the same conversation again: importing twice is harmless
        else:
            # Another conversation under an id the project has (SGD's splits reuse their
            # dialogue ids, for one): skipping it would lose it without a word.
            where = item.where or importers.Where()
            problems.append(
                where.problem(
                    f'the id "{key}" is already in the project for a different '
                    "conversation; give this one another id, or import it into another project"
                )
            )
    if problems:
        return []
    return batch


# --- Import jobs -------------------------------------------------------------------------


def _progress_key(job_id: int) -> str:
    return f"import-progress:{job_id}"


def _check_format(format: str | None) -> None:
    if format and format not in importers.FORMATS:
        raise InvalidInput(f'Unknown format "{format}" (expected {", ".join(importers.FORMATS)}).')


def _human_size(size: int) -> str:
    # Plain spaces: the message is read by scripts as well as people.
    return filesizeformat(size).replace("\xa0", " ")


def create_import_job(
    *, project: Project, user: User, upload: File, format: str | None = None
) -> ImportJob:
    """Keep an uploaded file and queue its import; leads only."""
    project_services.require_lead(project, user)
    _check_format(format)
    limit = settings.IMPORT_MAX_FILE_BYTES
    if upload.size > limit:
        raise InvalidInput(
            f"The file is {_human_size(upload.size)}; the limit is {_human_size(limit)}."
        )
    if not upload.size:
        raise InvalidInput("The file is empty.")
    filename = Path(upload.name or "upload").name[:255]
    job = ImportJob(
        project=project,
        created_by=user,
        filename=filename,
        requested_format=format or "",
        total=upload.size,
    )
    job.file.save(filename, upload, save=False)
    job.save()
    from annotation import tasks  # tasks call this module; import here to avoid a cycle

    transaction.on_commit(lambda: tasks.import_file.delay(job.pk))
    return job


def run_import_job(job_id: int) -> ImportJob:
    """Run an import job to the end; safe to run again or twice at once.

    A job that already finished is left alone. The data and the job's final state are
    committed together, so a worker that dies mid-import leaves nothing behind and the
    job runs again on redelivery. The job row stays locked meanwhile, so a second worker
    waits and then finds the job finished. Progress goes through the cache, because
    nothing written inside the transaction is visible until it commits.
    """
    job = jobs.run(
        ImportJob,
        job_id,
        _run_claimed_import,
        failed="The import stopped on an unexpected error ({error}); nothing was imported.",
        started_at=timezone.now(),
        attempts=F("attempts") + 1,
    )
    cache.delete(_progress_key(job.pk))
    return job


def _run_claimed_import(job_id: int) -> ImportJob:
    with transaction.atomic():
        job = (
            ImportJob.objects.select_for_update(of=("self",))
            .select_related("project")
            .get(pk=job_id)
        )
        if job.is_finished:
            return job

        def progress(result: ImportResult) -> None:
            cache.set(
                _progress_key(job.pk),
                {
                    "processed": result.bytes_read,
                    "records": result.processed,
                    "conversations": result.conversations,
                    "turns": result.turns,
                    "skipped": result.skipped,
                    "format": result.format or "",
                },
                timeout=24 * 3600,
            )

        try:
            with job.file.open("rb") as stream:
                result = import_conversations(
                    project=job.project,
                    stream=stream,
                    format=job.requested_format or None,
                    on_progress=progress,
                    job=job,
                )
        except ImportFailed as exc:
            _finish_job(job, failure=exc)
        except FileNotFoundError:
            _finish_job(
                job, failure=ImportFailed("The uploaded file is no longer there; upload it again.")
            )
        else:
            _finish_job(job, result=result)
    return job


def _finish_job(
    job: ImportJob, *, result: ImportResult | None = None, failure: ImportFailed | None = None
) -> None:
    if failure is not None:
        job.status = ImportJob.Status.FAILED
        job.message = failure.message
        job.errors = failure.errors or []
    else:
        job.status = ImportJob.Status.SUCCEEDED
        job.format = result.format or ""
        job.records = result.processed
        job.conversations = result.conversations
        job.turns = result.turns
        job.skipped = result.skipped
        job.message = (
            f"Imported {result.conversations:,} conversations ({result.turns:,} turns); "
            f"skipped {result.skipped:,} already in the project."
        )
    job.processed = job.total
    job.finished_at = timezone.now()
    job.save()


def import_local_file(
    *,
    project: Project,
    path: Path,
    format: str | None = None,
    on_progress: Callable[[ImportResult], None] | None = None,
) -> tuple[ImportJob, ImportResult]:
    """Import a file on this machine (the CLI), recorded in the project's import history.

    Raises ImportFailed like import_conversations; the job records the failure too.
    """
    job = ImportJob.objects.create(
        project=project,
        filename=path.name[:255],
        requested_format=format or "",
        total=path.stat().st_size,
        status=ImportJob.Status.RUNNING,
        started_at=timezone.now(),
        attempts=1,
    )
    try:
        with path.open("rb") as stream:
            result = import_conversations(
                project=project, stream=stream, format=format, on_progress=on_progress, job=job
            )
    except ImportFailed as exc:
        _finish_job(job, failure=exc)
        raise
    except Exception as exc:
        _finish_job(
            job, failure=ImportFailed(f"The import stopped on an unexpected error ({exc}).")
        )
        raise
    _finish_job(job, result=result)
    return job, result


def import_job_state(job: ImportJob) -> dict[str, Any]:
    """The job as the page and the API show it, with live progress while it runs."""
    state = {
        "id": job.pk,
        "status": job.status,
        "format": job.format or job.requested_format,
        "filename": job.filename,
        "processed": job.processed,
        "total": job.total,
        "records": job.records,
        "conversations": job.conversations,
        "turns": job.turns,
        "skipped": job.skipped,
        "message": job.message,
        "errors": job.errors,
        "created_at": job.created_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
    }
    if job.status == ImportJob.Status.RUNNING:
        live = cache.get(_progress_key(job.pk)) or {}
        state.update({k: v for k, v in live.items() if v or k != "format"})
    return state


def get_import_job(*, job_id: int, user: User) -> ImportJob:
    """An import job the user may see (its project's leads and whoever uploaded it)."""
    job = ImportJob.objects.select_related("project").filter(pk=job_id).first()
    if job is None:
        raise NotFound("No such import.")
    membership = project_services.get_membership(job.project, user)
    if job.created_by_id != user.pk and (membership is None or not membership.is_lead):
        raise NotFound("No such import.")
    return job
