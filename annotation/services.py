"""Business actions on conversations, tasks and annotations.

Views, the API, management commands and Celery tasks all call these functions, so the
browser, scripts and workers can never disagree about a rule.
"""

import logging
import sys
import threading
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from queue import Full, Queue
from typing import IO, Any, TypeVar

import orjson
from django.conf import settings
from django.core.cache import cache
from django.core.files import File
from django.db import (
    IntegrityError,
    InterfaceError,
    OperationalError,
    connection,
    reset_queries,
    transaction,
)
from django.db.models import F
from django.utils import timezone

from accounts.models import User
from annotation import answers as answer_rules
from annotation import importers
from annotation.exceptions import (
    Conflict,
    ImportFailed,
    InvalidAnswers,
    InvalidInput,
    MissingRequired,
    NotFound,
    StaleVersion,
)
from annotation.models import Annotation, Conversation, ImportJob, Task, Turn, TurnAnswer
from projects import services as project_services
from projects.models import LabelSchema, Project

IMPORT_BATCH_SIZE = 1000
T = TypeVar("T")
logger = logging.getLogger(__name__)


# --- Import ---------------------------------------------------------------------------


@dataclass
class ImportResult:
    format: str | None
    conversations: int = 0
    turns: int = 0
    skipped: int = 0
    processed: int = 0
    bytes_read: int = 0
    bytes_total: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "conversations": self.conversations,
            "turns": self.turns,
            "skipped": self.skipped,
            "processed": self.processed,
        }


def _derived_external_id(content_hash: str) -> str:
    return f"sha256:{content_hash[:32]}"


def _copy_rows(model, columns: list[str], rows) -> None:
    """Stream rows into a table with PostgreSQL's COPY (psycopg 3)."""
    quote = connection.ops.quote_name
    sql = f"COPY {quote(model._meta.db_table)} ({', '.join(quote(c) for c in columns)}) FROM STDIN"
    with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
        for row in rows:
            copy.write_row(row)


def _existing_external_ids(project: Project, ids: list[str]) -> set[str]:
    if connection.vendor == "postgresql":
        # One array parameter instead of a thousand: much cheaper to send and plan.
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT external_id FROM {Conversation._meta.db_table} "
                "WHERE project_id = %s AND external_id = ANY(%s)",
                [project.pk, ids],
            )
            return {row[0] for row in cursor.fetchall()}
    return set(
        Conversation.objects.filter(project=project, external_id__in=ids).values_list(
            "external_id", flat=True
        )
    )


def _write_batch(
    project: Project, batch: list[importers.ConversationData], result: ImportResult
) -> None:
    hashes = [c.content_hash() for c in batch]
    ids = [c.external_id or _derived_external_id(h) for c, h in zip(batch, hashes, strict=True)]
    existing = _existing_external_ids(project, ids)
    new: list[tuple[str, str, importers.ConversationData]] = []
    for data, content_hash, external_id in zip(batch, hashes, ids, strict=True):
        if external_id in existing:
            result.skipped += 1
            continue
        existing.add(external_id)  # a repeat later in the same file is skipped too
        new.append((external_id, content_hash, data))
    if not new:
        return
    if connection.vendor == "postgresql":
        _copy_batch(project, new)
    else:
        _insert_batch(project, new)
    result.conversations += len(new)
    result.turns += sum(len(data.turns) for _, _, data in new)


def _copy_batch(project: Project, new: list[tuple[str, str, importers.ConversationData]]) -> None:
    """Write conversations, turns and tasks with COPY, several times faster than INSERT."""
    now = timezone.now()
    table = Conversation._meta.db_table
    with connection.cursor() as cursor:
        # Take the ids up front, so conversations can go in by COPY too.
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
            [table, len(new)],
        )
        pks = [row[0] for row in cursor.fetchall()]
    _copy_rows(
        Conversation,
        ["id", "project_id", "external_id", "content_hash", "metadata", "turn_count", "created_at"],
        (
            (pk, project.pk, external_id, content_hash, _json(data.metadata), len(data.turns), now)
            for pk, (external_id, content_hash, data) in zip(pks, new, strict=True)
        ),
    )
    # The turn rows were formatted for COPY by the parsing thread; only the id is new.
    payload = b"".join(
        pk_bytes + row
        for pk, (_, _, data) in zip(pks, new, strict=True)
        for pk_bytes in [str(pk).encode()]
        for row in data.copy_rows or _copy_turn_rows(data)
    )
    _copy_bytes(Turn, ["conversation_id", "index", "role", "text", "metadata"], payload)
    _copy_rows(
        Task,
        ["project_id", "conversation_id", "status", "priority", "created_at"],
        ((project.pk, pk, Task.Status.OPEN, 0, now) for pk in pks for _ in range(project.overlap)),
    )


def _copy_bytes(model, columns: list[str], payload: bytes) -> None:
    """Send rows already in COPY's text format."""
    quote = connection.ops.quote_name
    sql = f"COPY {quote(model._meta.db_table)} ({', '.join(quote(c) for c in columns)}) FROM STDIN"
    with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
        copy.write(payload)


def _copy_text(value: str) -> str:
    """Escape a value for COPY's text format."""
    if "\\" in value:
        value = value.replace("\\", "\\\\")
    return value.replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _copy_turn_rows(data: importers.ConversationData) -> list[bytes]:
    """A conversation's turns as COPY text rows, less the conversation id in front."""
    return [
        f"\t{index}\t{turn.role}\t{_copy_text(turn.text)}\t{_copy_text(_json(turn.metadata))}\n".encode()
        for index, turn in enumerate(data.turns)
    ]


def _json(value: dict) -> str:
    return orjson.dumps(value).decode() if value else "{}"


def _insert_batch(project: Project, new: list[tuple[str, str, importers.ConversationData]]) -> None:
    now = timezone.now()
    rows = Conversation.objects.bulk_create(
        Conversation(
            project=project,
            external_id=external_id,
            content_hash=content_hash,
            metadata=data.metadata,
            turn_count=len(data.turns),
            created_at=now,
        )
        for external_id, content_hash, data in new
    )
    Turn.objects.bulk_create(
        Turn(conversation=row, index=index, role=turn.role, text=turn.text, metadata=turn.metadata)
        for row, (_, _, data) in zip(rows, new, strict=True)
        for index, turn in enumerate(data.turns)
    )
    Task.objects.bulk_create(
        Task(project=project, conversation=row, created_at=now)
        for row in rows
        for _ in range(project.overlap)
    )


@dataclass
class _Parsed:
    items: list[importers.ConversationData | importers.Problem]
    format: str | None
    position: int  # bytes of the uploaded file read so far


def _parse_in_chunks(stream: IO[bytes], format: str | None, *, for_copy: bool) -> Iterator[_Parsed]:
    items: list[importers.ConversationData | importers.Problem] = []
    detected = format
    try:
        content = importers.open_stream(stream)
        for _where, item, name in importers.iter_conversations(content, format):
            detected = detected or name
            if isinstance(item, importers.ConversationData):
                # Done here, in the parsing thread, while the other one waits on the database.
                item.content_hash()
                if for_copy:
                    item.copy_rows = _copy_turn_rows(item)
            items.append(item)
            if len(items) >= IMPORT_BATCH_SIZE:
                yield _Parsed(items, detected, stream.tell())
                items = []
    except (OSError, EOFError, zlib.error) as exc:  # a damaged or truncated .gz
        items.append(importers.Problem(line=None, message=f"cannot read the file: {exc}"))
    yield _Parsed(items, detected, stream.tell())


def _in_background(items: Iterator[T], depth: int = 4) -> Iterator[T]:
    """Run a generator in a thread, `depth` items ahead of the consumer.

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
        thread.join()


@contextmanager
def _quick_thread_switches(seconds: float = 0.0005) -> Iterator[None]:
    """Hand the GIL over sooner than every 5 ms while parsing and writing overlap.

    The writing thread mostly waits on the database; each time it wakes up it must get the
    GIL back from the parsing thread, and the default interval makes it wait for it.
    """
    previous = sys.getswitchinterval()
    sys.setswitchinterval(seconds)
    try:
        yield
    finally:
        sys.setswitchinterval(previous)


def import_conversations(
    *,
    project: Project,
    stream: IO[bytes],
    format: str | None = None,
    on_progress: Callable[[ImportResult], None] | None = None,
) -> ImportResult:
    """Import a file of conversations into a project: all of it, or nothing.

    `stream` is the file as uploaded (seekable; gzip is recognised). Conversations whose
    id (or, without one, content) the project already has are skipped, so running an
    import twice is harmless. Every record is checked; with any bad record nothing is
    written and ImportFailed lists up to IMPORT_MAX_ERRORS problems by line or record.
    """
    if format is not None and format not in importers.FORMATS:
        raise InvalidInput(f'Unknown format "{format}" (expected {", ".join(importers.FORMATS)}).')
    result = ImportResult(format=format, bytes_total=_stream_size(stream))
    problems: list[importers.Problem] = []
    max_errors = settings.IMPORT_MAX_ERRORS

    with transaction.atomic(), _quick_thread_switches():
        chunks = _parse_in_chunks(stream, format, for_copy=connection.vendor == "postgresql")
        for parsed in _in_background(chunks):
            result.format = result.format or parsed.format
            batch = []
            for item in parsed.items:
                result.processed += 1
                if isinstance(item, importers.Problem):
                    problems.append(item)
                    if len(problems) >= max_errors:
                        break
                elif not problems:  # after a problem keep checking, but write nothing more
                    batch.append(item)
            if len(problems) >= max_errors:
                break
            if batch and not problems:
                _write_batch(project, batch, result)
                if settings.DEBUG:
                    reset_queries()  # DEBUG keeps every query's SQL; bulk inserts are big
            result.bytes_read = parsed.position
            if on_progress:
                on_progress(result)
        if problems or result.processed == 0:
            transaction.set_rollback(True)
    if problems:
        stopped = len(problems) >= max_errors
        raise ImportFailed(
            f"{len(problems)} problem{'s' if len(problems) != 1 else ''} found"
            f"{' (checking stopped there)' if stopped else ''}; nothing was imported.",
            errors=[p.as_dict() for p in problems],
        )
    if result.processed == 0:
        raise ImportFailed("The file holds no records; nothing was imported.", errors=[])
    return result


def _stream_size(stream: IO[bytes]) -> int:
    position = stream.tell()
    size = stream.seek(0, 2)
    stream.seek(position)
    return size


# --- Import jobs ------------------------------------------------------------------------


def _progress_key(job_id: int) -> str:
    return f"import-progress:{job_id}"


def _human_size(size: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:,.0f} {unit}" if unit == "bytes" else f"{size:,.1f} {unit}"
        size /= 1024
    return ""


def create_import_job(
    *, project: Project, user: User, upload: File, format: str | None = None
) -> ImportJob:
    """Keep an uploaded file and queue its import; leads only."""
    project_services.require_lead(project, user)
    if format and format not in importers.FORMATS:
        raise InvalidInput(f'Unknown format "{format}" (expected {", ".join(importers.FORMATS)}).')
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
    from annotation import tasks  # tasks call services; import here to avoid a cycle

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
    now = timezone.now()
    claimed = ImportJob.objects.filter(
        pk=job_id, status__in=[ImportJob.Status.QUEUED, ImportJob.Status.RUNNING]
    ).update(status=ImportJob.Status.RUNNING, started_at=now, attempts=F("attempts") + 1)
    if not claimed:
        return ImportJob.objects.get(pk=job_id)
    try:
        job = _run_claimed_import(job_id)
    except (OperationalError, InterfaceError):
        raise  # transient: the task retries, and the job is still "running"
    except Exception as exc:
        logger.exception("import job %s failed", job_id)
        ImportJob.objects.filter(pk=job_id).update(
            status=ImportJob.Status.FAILED,
            message=f"The import stopped on an unexpected error ({exc}); nothing was imported.",
            finished_at=timezone.now(),
        )
        # Logged above; the job row tells the user. Re-raising would only fail the upload
        # request too when Celery runs eagerly.
        job = ImportJob.objects.get(pk=job_id)
    cache.delete(_progress_key(job.pk))
    return job


def _run_claimed_import(job_id: int) -> ImportJob:
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().select_related("project").get(pk=job_id)
        if job.is_finished:
            return job
        # One import at a time per project, so two files with the same ids never collide.
        # NO KEY UPDATE still lets other transactions insert rows that point at the project.
        Project.objects.select_for_update(no_key=True).filter(pk=job.project_id).first()

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
                )
        except ImportFailed as exc:
            job.status = ImportJob.Status.FAILED
            job.message = exc.message
            job.errors = exc.errors or []
        except FileNotFoundError:
            job.status = ImportJob.Status.FAILED
            job.message = "The uploaded file is no longer there; upload it again."
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
    return job


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


# --- Claiming tasks ---------------------------------------------------------------------


def _lease_end(project: Project, now: datetime) -> datetime:
    return now + timedelta(minutes=project.lease_minutes)


def _require_member(project: Project, user: User) -> None:
    if project_services.get_membership(project, user) is None:
        raise NotFound("No such project.")


def claim_next_task(*, project: Project, user: User, now: datetime | None = None) -> Task | None:
    """Give the user their current task, or claim the next open one; None if there is none.

    Never hands out a conversation the user already has a task for. Open tasks are locked
    with SKIP LOCKED on PostgreSQL so concurrent claimers never wait on each other, and the
    claim itself is a conditional UPDATE, which is also what makes it safe on SQLite.
    """
    _require_member(project, user)
    now = now or timezone.now()
    with transaction.atomic():
        current = (
            Task.objects.select_for_update()
            .filter(
                project=project,
                assignee=user,
                status=Task.Status.IN_PROGRESS,
                lease_expires_at__gt=now,
            )
            .order_by("claimed_at", "id")
            .first()
        )
        if current is not None:
            current.lease_expires_at = _lease_end(project, now)
            current.save(update_fields=["lease_expires_at"])
            return current

        mine = Task.objects.filter(project=project, assignee=user).values("conversation_id")
        for _attempt in range(10):
            candidate = (
                Task.objects.open()
                .filter(project=project)
                .exclude(conversation_id__in=mine)
                .order_by("-priority", "id")
                .select_for_update(skip_locked=True)
                .only("id")
                .first()
            )
            if candidate is None:
                return None
            try:
                with transaction.atomic():
                    claimed = Task.objects.filter(
                        pk=candidate.pk, status=Task.Status.OPEN, assignee__isnull=True
                    ).update(
                        status=Task.Status.IN_PROGRESS,
                        assignee=user,
                        claimed_at=now,
                        lease_expires_at=_lease_end(project, now),
                    )
            except IntegrityError:
                # The same user claimed another slot of this conversation at this moment.
                continue
            if claimed:
                task = Task.objects.select_related("conversation").get(pk=candidate.pk)
                Annotation.objects.create(
                    task=task,
                    annotator=user,
                    schema=LabelSchema.objects.current_for(project),
                    started_at=now,
                    updated_at=now,
                )
                return task
    return None


def get_task_for_annotator(*, task_id: int, user: User) -> Task:
    """Load a task that belongs to the user, or raise NotFound."""
    task = (
        Task.objects.select_related("project", "conversation", "annotation", "annotation__schema")
        .filter(pk=task_id, assignee=user)
        .first()
    )
    if task is None or not hasattr(task, "annotation"):
        raise NotFound("No such task.")
    return task


# --- Saving and submitting ---------------------------------------------------------------


def _turn_refs(conversation: Conversation) -> list[answer_rules.TurnRef]:
    return [
        answer_rules.TurnRef(index=index, role=role)
        for index, role in conversation.turns.values_list("index", "role")
    ]


def _write_turn_answers(annotation: Annotation, clean: dict[int, dict[str, Any]]) -> None:
    turn_ids = dict(annotation.task.conversation.turns.values_list("index", "id"))
    existing = {ta.turn_id: ta for ta in annotation.turn_answers.all()}
    wanted = {turn_ids[index]: answers for index, answers in clean.items()}
    stale = [ta.pk for turn_id, ta in existing.items() if turn_id not in wanted]
    if stale:
        TurnAnswer.objects.filter(pk__in=stale).delete()
    changed = []
    created = []
    for turn_id, answers in wanted.items():
        row = existing.get(turn_id)
        if row is None:
            created.append(TurnAnswer(annotation=annotation, turn_id=turn_id, answers=answers))
        elif row.answers != answers:
            row.answers = answers
            changed.append(row)
    TurnAnswer.objects.bulk_create(created)
    TurnAnswer.objects.bulk_update(changed, ["answers"])


def save_annotation(
    *,
    task: Task,
    user: User,
    version: int,
    turns: Any,
    conversation: Any,
    submit: bool = False,
    now: datetime | None = None,
) -> Annotation:
    """Replace the user's answers on a task, guarded by the version they last saw.

    The whole annotation is sent each time. A stale version raises StaleVersion and writes
    nothing; with submit=True, missing required answers raise MissingRequired and nothing
    is saved or submitted. Saving extends the task's lease.
    """
    now = now or timezone.now()
    with transaction.atomic():
        task = (
            Task.objects.select_for_update()
            .select_related("project", "conversation")
            .get(pk=task.pk)
        )
        if task.assignee_id != user.pk:
            raise NotFound("No such task.")
        annotation = Annotation.objects.select_for_update().get(task=task)
        annotation.task = task
        if annotation.status == Annotation.Status.SUBMITTED:
            raise Conflict("This annotation is already submitted and can no longer change.")
        if task.status != Task.Status.IN_PROGRESS:
            raise Conflict(
                "This task is no longer yours to label (its lease ran out or it was released). "
                "Your last change was not saved; open the next task to continue."
            )
        if version != annotation.version:
            raise StaleVersion(annotation.version)

        questions = list(annotation.schema.questions.all())
        turn_refs = _turn_refs(task.conversation)
        clean, errors = answer_rules.clean_answers(questions, turn_refs, turns, conversation)
        if errors:
            raise InvalidAnswers(
                f"{len(errors)} answer{'s are' if len(errors) != 1 else ' is'} not valid; "
                "nothing was saved.",
                errors=errors,
            )
        if submit:
            missing = answer_rules.missing_required(questions, turn_refs, clean)
            if missing:
                raise MissingRequired(missing)

        _write_turn_answers(annotation, clean.turns)
        annotation.answers = clean.conversation
        annotation.version += 1
        annotation.updated_at = now
        fields = ["answers", "version", "updated_at"]
        if submit:
            annotation.status = Annotation.Status.SUBMITTED
            annotation.submitted_at = now
            fields += ["status", "submitted_at"]
            task.status = Task.Status.SUBMITTED
            task.completed_at = now
            task.lease_expires_at = None
            task.save(update_fields=["status", "completed_at", "lease_expires_at"])
        else:
            task.lease_expires_at = _lease_end(task.project, now)
            task.save(update_fields=["lease_expires_at"])
        annotation.save(update_fields=fields)
    return annotation


def annotation_answers(annotation: Annotation) -> dict[str, Any]:
    """The annotation's answers as {"turns": {"<index>": {...}}, "conversation": {...}}."""
    rows = annotation.turn_answers.values_list("turn__index", "answers")
    return {
        "turns": {str(index): answers for index, answers in sorted(rows)},
        "conversation": annotation.answers,
    }


# --- Leases -----------------------------------------------------------------------------


def release_expired_leases(*, now: datetime | None = None, batch_size: int = 500) -> int:
    """Put tasks whose lease ran out back in the pool; return how many were released.

    The expired task keeps its annotator and draft for audit; a new open task takes its
    slot. Safe to run twice at once: rows are locked with SKIP LOCKED and re-checked.
    """
    now = now or timezone.now()
    released = 0
    while True:
        with transaction.atomic():
            expired = list(
                Task.objects.select_for_update(skip_locked=True)
                .filter(status=Task.Status.IN_PROGRESS, lease_expires_at__lte=now)
                .order_by("id")
                .values_list("id", "project_id", "conversation_id", "priority")[:batch_size]
            )
            if not expired:
                return released
            Task.objects.filter(pk__in=[row[0] for row in expired]).update(
                status=Task.Status.EXPIRED, completed_at=now
            )
            Task.objects.bulk_create(
                Task(project_id=project_id, conversation_id=conversation_id, priority=priority)
                for _, project_id, conversation_id, priority in expired
            )
            released += len(expired)
