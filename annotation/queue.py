"""The labeling queue: claiming work, leases, skipping, releasing, assignment, counts.

Invariants every function here keeps, under any concurrency:
- a conversation has exactly `overlap` live tasks (open, assigned, in progress, submitted),
  so it never collects more than `overlap` annotations, open leases included;
- an annotator never gets a conversation twice (a database constraint backs this up);
- a task that goes back to the pool keeps its annotator and draft for audit, and a fresh
  open task takes its slot;
- the per-project counts (TaskCount) move in the same transaction as the tasks.
"""

import heapq
import random
import statistics
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import Count, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.text import slugify

from accounts.models import ExpertiseTag, User
from annotation import jobs, rows
from annotation import turns as turn_cache
from annotation.exceptions import Conflict, InvalidInput, NotAllowed, NotFound
from annotation.models import (
    BUCKETS,
    LIVE_BUCKETS,
    Annotation,
    AssignmentJob,
    Conversation,
    Task,
    TaskCount,
    task_bucket,
)
from projects import services as project_services
from projects.models import MAX_OVERLAP, LabelSchema, Membership, Project

ASSIGNMENT_CHUNK = 500
PRIORITY_MIN, PRIORITY_MAX = -(2**31), 2**31 - 1


# --- Counts ---------------------------------------------------------------------------


def count_moves(project_id: int, moves: dict[str, int]) -> None:
    """Add to (or take from) the project's task counts, in the caller's transaction.

    One random shard per call, buckets in a fixed order: concurrent callers rarely meet
    on a row, and when they do they lock rows in the same order, so they cannot deadlock.
    """
    moves = {bucket: delta for bucket, delta in sorted(moves.items()) if delta}
    if not moves:
        return
    shard = random.randrange(TaskCount.SHARDS)
    table = connection.ops.quote_name(TaskCount._meta.db_table)
    values = ", ".join(["(%s, %s, %s, %s)"] * len(moves))
    params: list[Any] = []
    for bucket, delta in moves.items():
        params += [project_id, bucket, shard, delta]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (project_id, bucket, shard, count) VALUES {values} "
            f"ON CONFLICT (project_id, bucket, shard) "
            f"DO UPDATE SET count = {table}.count + EXCLUDED.count",
            params,
        )


def task_counts(project: Project) -> dict[str, int]:
    """The project's tasks per bucket, from the maintained counts (a few rows, not a scan)."""
    counts = dict.fromkeys(BUCKETS, 0)
    for row in TaskCount.objects.filter(project=project).values("bucket").annotate(n=Sum("count")):
        counts[row["bucket"]] = row["n"] or 0
    return counts


def actual_counts(project: Project) -> dict[str, int]:
    """The project's tasks per bucket counted from the tasks themselves (a scan)."""
    actual: dict[str, int] = defaultdict(int)
    rows = (
        Task.objects.filter(project=project)
        .values("status", "required_expertise_id")
        .annotate(n=Count("id"))
    )
    for row in rows:
        actual[task_bucket(row["status"], row["required_expertise_id"])] += row["n"]
    return dict(actual)


def recount(project: Project) -> dict[str, int]:
    """Recompute the project's counts from its tasks (a safety net; slow on big projects)."""
    actual = actual_counts(project)
    with transaction.atomic():
        TaskCount.objects.filter(project=project).delete()
        TaskCount.objects.bulk_create(
            TaskCount(project=project, bucket=bucket, shard=0, count=n)
            for bucket, n in actual.items()
        )
    return actual


# --- Claiming -------------------------------------------------------------------------


def lease_end(project: Project, now: datetime) -> datetime:
    """When a lease taken (or renewed) now runs out."""
    return now + timedelta(minutes=project.lease_minutes)


def _require_member(project: Project, user: User) -> Membership:
    membership = project_services.get_membership(project, user)
    if membership is None:
        raise NotFound("No such project.")
    return membership


def _start(task: Task, project: Project, user: User, now: datetime, moves: dict[str, int]) -> Task:
    """Give a task just claimed a fresh draft, under the current schema and guidelines."""
    schema = LabelSchema.objects.current_for(project)
    Annotation.objects.create(
        task_id=task.pk,
        annotator=user,
        schema=schema,
        guidelines_version=project.guidelines_version,
        started_at=now,
        updated_at=now,
    )
    project_services.mark_in_use(schema=schema, project=project)
    # Last: the shared count row is held only from here to the commit.
    count_moves(project.pk, moves)
    return task


def _claim_open(candidates: QuerySet, project: Project, user: User, now: datetime) -> Task | None:
    """Claim the first of the candidate open tasks that nobody else is claiming."""
    lease = lease_end(project, now)
    for _attempt in range(100):
        candidate = _first_free(candidates).first()
        if candidate is None:
            return None
        task_id, conversation_id, expertise_id, priority = candidate
        # The conditional UPDATE is the claim: it is what makes this safe on SQLite too.
        claimed = Task.objects.filter(
            pk=task_id, status=Task.Status.OPEN, assignee__isnull=True
        ).update(
            status=Task.Status.IN_PROGRESS, assignee=user, claimed_at=now, lease_expires_at=lease
        )
        if claimed:
            task = Task(
                id=task_id,
                project=project,
                conversation_id=conversation_id,
                status=Task.Status.IN_PROGRESS,
                assignee=user,
                required_expertise_id=expertise_id,
                priority=priority,
                claimed_at=now,
                lease_expires_at=lease,
            )
            moves = {task_bucket(Task.Status.OPEN, expertise_id): -1, Task.Status.IN_PROGRESS: 1}
            return _start(task, project, user, now, moves)
    return None


def claim_next_task(
    *,
    project: Project,
    user: User,
    now: datetime | None = None,
    membership: Membership | None = None,
    resume: bool = True,
    with_position: bool = False,
) -> Task | None:
    """Give the user their current task, or claim their next one; None if there is none.

    In order: their task in progress (if still leased), then what a lead assigned them
    (assigned and mixed modes), then conversations escalated to an expertise they have,
    then the pool (pool and mixed modes). Never a conversation they already have a task
    for. Open tasks are locked with SKIP LOCKED on PostgreSQL, so concurrent claimers never
    wait on each other. Pass the user's `membership` if the caller already checked it.
    The task comes with what the workspace shows (what `Task.objects.for_workspace()`
    loads, and the saved answers), read in one statement; with_position=True adds the
    user's position() as `task.position`. resume=False skips looking for the task in
    progress (the caller just did, with resume_task).
    """
    if membership is None:
        _require_member(project, user)
    now = now or timezone.now()
    task = _resume(user, now, project=project, with_position=with_position) if resume else None
    if task is not None:
        task.project = project
        return task
    for attempt in range(3):
        try:
            with transaction.atomic():
                task = _claim(project, user, now)
            break
        except IntegrityError:
            # The same user claimed another slot of the same conversation elsewhere (a
            # second tab) at this very moment; the constraint refused this one. Look again.
            if attempt == 2:
                raise
    if task is None:
        return None
    task = _workspace_task("t.id = %s", [task.pk], with_position=with_position)
    task.project = project
    return task


# Opening the workspace or saving renews the lease at most this often (a quarter of the
# lease for leases under four minutes): most of those requests then write nothing, and an
# annotator at work never sees their lease run out.
LEASE_RENEWAL = timedelta(minutes=1)


def renew_lease(task: Task, project: Project, now: datetime) -> bool:
    """Extend the lease of the user's task in progress, unless it was renewed very lately.

    False if the task is no longer in progress (released, skipped, or expired and taken
    back by the maintenance job meanwhile).
    """
    lease = lease_end(project, now)
    slack = min(LEASE_RENEWAL, timedelta(minutes=project.lease_minutes) / 4)
    if task.lease_expires_at is not None and task.lease_expires_at >= lease - slack:
        return True
    renewed = Task.objects.filter(
        pk=task.pk, assignee_id=task.assignee_id, status=Task.Status.IN_PROGRESS
    ).update(lease_expires_at=lease)
    if renewed:
        task.lease_expires_at = lease
    return bool(renewed)


def resume_task(
    *, user: User, slug: str, now: datetime | None = None, with_position: bool = False
) -> Task | None:
    """The user's task in progress in a project they belong to, as claim_next_task gives it,
    or None: one query when they are in the middle of a conversation, as they mostly are.
    with_position=True reads their position() in the same query, as `task.position`."""
    return _resume(user, now or timezone.now(), slug=slug, with_position=with_position)


# The task, its project, conversation, annotation and schema: what Task.objects.
# for_workspace() loads, written out once (see annotation.rows for why).
_WORKSPACE_ROWS = (
    rows.Selected(Task, "t"),
    rows.Selected(Project, "p"),
    rows.Selected(Conversation, "c"),
    rows.Selected(Annotation, "a"),
    rows.Selected(LabelSchema, "s"),
)


def _workspace_task(where: str, params: list[Any], *, with_position: bool) -> Task | None:
    """The first task (by claim time) that `where` selects (SQL on the task table as t),
    with its project, conversation, annotation, schema and saved answers, and with
    with_position=True its assignee's position() as `task.position`: one statement."""
    table = rows.tables(_WORKSPACE_ROWS)
    # The task first, then its rows by primary key: PostgreSQL plans two small joins in
    # half the time it takes to plan one of six tables (planning was most of the cost).
    # MATERIALIZED keeps PostgreSQL from inlining it; SQLite before 3.35 has no such word.
    materialized = "MATERIALIZED " if connection.vendor == "postgresql" else ""
    columns = f"{rows.select_list(_WORKSPACE_ROWS)}, {turn_cache.saved_answers_column('a')}"
    if with_position:
        position_columns, position_params = _position_columns("t.assignee_id", "t.project_id")
        columns += f", {position_columns}"
        params = [*params, *position_params]
    found = rows.fetch_first(
        f"WITH t AS {materialized}(SELECT * FROM {table['t']} t WHERE {where} "
        "ORDER BY t.claimed_at, t.id LIMIT 1) "
        f"SELECT {columns} FROM t "
        f"JOIN {table['p']} p ON p.id = t.project_id "
        f"JOIN {table['c']} c ON c.id = t.conversation_id "
        f"JOIN {table['a']} a ON a.task_id = t.id "
        f"JOIN {table['s']} s ON s.id = a.schema_id",
        params,
        _WORKSPACE_ROWS,
    )
    if found is None:
        return None
    task, task.project, task.conversation, annotation, annotation.schema, saved = found[:6]
    task.annotation = annotation
    turn_cache.set_saved_answers(annotation, saved)
    if with_position:
        task.position = _position(task.project, *found[6:])
    return task


def _resume(
    user: User,
    now: datetime,
    *,
    slug: str | None = None,
    project: Project | None = None,
    with_position: bool = False,
) -> Task | None:
    """The user's task in progress, if still leased, with its lease renewed; in the project
    with this slug if they are a member of it, or in this project."""
    if slug is not None:
        # Membership is checked in the same statement: a removed member gets nothing.
        quote = connection.ops.quote_name
        projects, memberships = quote(Project._meta.db_table), quote(Membership._meta.db_table)
        project_is = (
            f"t.project_id = (SELECT p.id FROM {projects} p JOIN {memberships} m "
            "ON m.project_id = p.id AND m.user_id = %s WHERE p.slug = %s)"
        )
        params: list[Any] = [user.pk, slug]
    else:
        project_is, params = "t.project_id = %s", [project.pk]
    task = _workspace_task(
        f"{project_is} AND t.assignee_id = %s AND t.status = %s AND t.lease_expires_at > %s",
        [
            *params,
            user.pk,
            Task.Status.IN_PROGRESS.value,
            connection.ops.adapt_datetimefield_value(now),
        ],
        with_position=with_position,
    )
    if task is None or not renew_lease(task, task.project, now):
        return None
    return task


def _claim(project: Project, user: User, now: datetime) -> Task | None:
    if project.serves_assigned:
        assigned = (
            Task.objects.select_for_update(skip_locked=True)
            .filter(assignee=user, status=Task.Status.ASSIGNED, project=project)
            .order_by("-priority", "id")
            .first()
        )
        # Conditional, as every claim: a lead may unassign it at this very moment.
        started = assigned is not None and Task.objects.filter(
            pk=assigned.pk, status=Task.Status.ASSIGNED, assignee=user
        ).update(
            status=Task.Status.IN_PROGRESS,
            claimed_at=now,
            lease_expires_at=lease_end(project, now),
        )
        if started:
            assigned.status = Task.Status.IN_PROGRESS
            assigned.claimed_at = now
            assigned.lease_expires_at = lease_end(project, now)
            moves = {Task.Status.ASSIGNED: -1, Task.Status.IN_PROGRESS: 1}
            return _start(assigned, project, user, now, moves)

    if not project.serves_pool:
        return None
    expertise = list(user.expertise.values_list("id", flat=True))
    if expertise:
        escalated = Task.objects.escalated().filter(required_expertise_id__in=expertise)
        task = _claim_open(_not_had(escalated, project, user), project, user, now)
        if task is not None:
            return task
    return _claim_open(_not_had(Task.objects.pool(), project, user), project, user, now)


def _not_had(tasks: QuerySet, project: Project, user: User) -> QuerySet:
    """The project's tasks among these, of conversations the user never had a task on."""
    mine = Task.objects.filter(project=project, assignee=user).values("conversation_id")
    return tasks.filter(project=project).exclude(conversation_id__in=mine)


def _first_free(candidates: QuerySet) -> QuerySet:
    """The first candidate by priority that no one else is claiming right now."""
    return (
        candidates.select_for_update(skip_locked=True)
        .order_by("-priority", "id")
        .values_list("id", "conversation_id", "required_expertise_id", "priority")
    )


def claim_query(project: Project, user: User) -> QuerySet:
    """The pool query claim_next_task runs, for checking its plan (see the tests)."""
    return _first_free(_not_had(Task.objects.pool(), project, user))[:1]


# --- Giving work back -----------------------------------------------------------------


def _fresh_slot(task: Task, required_expertise_id: int | None) -> Task:
    """A new open task (unsaved) for the slot a returned task held."""
    return Task(
        project_id=task.project_id,
        conversation_id=task.conversation_id,
        priority=task.priority,
        required_expertise_id=required_expertise_id,
    )


def _retire(
    task: Task, status: str, now: datetime, *, escalate_to: int | None = None, **fields: Any
) -> None:
    """End a claimed task in `status` and open a fresh task in its slot, counts included."""
    old_bucket = task.bucket
    changes = {"status": status, "completed_at": now, "lease_expires_at": None, **fields}
    for name, value in changes.items():
        setattr(task, name, value)
    task.save(update_fields=list(changes))
    replacement = _fresh_slot(task, escalate_to or task.required_expertise_id)
    replacement.save()
    count_moves(task.project_id, _moves({old_bucket: -1, status: 1}, replacement))


def _task_for(task_id: int, user: User, *, leads_too: bool) -> Task:
    """A task the user may act on, locked: theirs, or (leads_too) any in a project they lead."""
    task = (
        Task.objects.select_for_update(of=("self",))
        .select_related("project")
        .filter(pk=task_id)
        .first()
    )
    if task is None:
        raise NotFound("No such task.")
    if task.assignee_id != user.pk:
        membership = leads_too and project_services.get_membership(task.project, user)
        if not (membership and membership.is_lead):
            raise NotFound("No such task.")
    return task


def _expertise_tag(name: str) -> ExpertiseTag:
    """A known expertise by name, however it is capitalised or spaced."""
    slug = slugify(name or "")
    if not slug:
        raise InvalidInput("Name the expertise this conversation needs (e.g. insurance).")
    tag = ExpertiseTag.objects.filter(name=slug).first()
    if tag is None:
        # A typo would escalate the conversation to nobody; say what there is instead.
        known = ", ".join(ExpertiseTag.objects.values_list("name", flat=True)[:20]) or "none yet"
        raise InvalidInput(f'No expertise called "{name}" (known: {known}).')
    return tag


@transaction.atomic
def skip_task(
    *,
    task_id: int,
    user: User,
    reason: str,
    note: str = "",
    expertise: str = "",
    now: datetime | None = None,
) -> Task:
    """Skip a task with a reason; "needs_expert" escalates it to annotators with an expertise.

    The conversation goes back to the queue (escalated: only to those experts, and to them
    first); the skipping annotator never sees it again. Their draft is kept for audit.
    """
    now = now or timezone.now()
    task = _task_for(task_id, user, leads_too=False)
    if not task.project.allow_skip:
        raise NotAllowed("This project does not allow skipping; ask a lead to release the task.")
    if reason not in Task.SkipReason.values:
        raise InvalidInput(
            f'Unknown reason "{reason}" (expected {", ".join(Task.SkipReason.values)}).'
        )
    if task.status not in (Task.Status.ASSIGNED, Task.Status.IN_PROGRESS):
        raise Conflict(f"This task is {task.get_status_display().lower()}; it cannot be skipped.")
    escalate_to = _expertise_tag(expertise) if reason == Task.SkipReason.NEEDS_EXPERT else None
    _retire(
        task,
        Task.Status.SKIPPED,
        now,
        escalate_to=escalate_to and escalate_to.pk,
        skip_reason=reason,
        note=note[:2000],
    )
    return task


def _moves(moves: dict[str, int], *opened: Task) -> dict[str, int]:
    result = defaultdict(int, moves)
    for task in opened:
        result[task.bucket] += 1
    return dict(result)


@transaction.atomic
def release_task(*, task_id: int, user: User, now: datetime | None = None) -> Task:
    """Give a task back: its annotator, or a lead for anyone's.

    An assigned task not yet started simply returns to the pool. One in progress keeps its
    annotator and draft (status "released") and a fresh open task takes its slot.
    """
    now = now or timezone.now()
    task = _task_for(task_id, user, leads_too=True)
    if task.status == Task.Status.ASSIGNED:
        task.status = Task.Status.OPEN
        task.assignee = None
        task.assigned_at = None
        task.save(update_fields=["status", "assignee", "assigned_at"])
        count_moves(task.project_id, _moves({Task.Status.ASSIGNED: -1}, task))
        return task
    if task.status != Task.Status.IN_PROGRESS:
        raise Conflict(
            f"This task is {task.get_status_display().lower()}; "
            "only assigned or in-progress tasks can be released."
        )
    _retire(task, Task.Status.RELEASED, now)
    return task


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
                .order_by("id")[:batch_size]
            )
            if not expired:
                return released
            Task.objects.filter(pk__in=[task.pk for task in expired]).update(
                status=Task.Status.EXPIRED, completed_at=now, lease_expires_at=None
            )
            replacements = Task.objects.bulk_create(
                _fresh_slot(task, task.required_expertise_id) for task in expired
            )
            by_project: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
            for task in expired:
                by_project[task.project_id][Task.Status.IN_PROGRESS] -= 1
                by_project[task.project_id][Task.Status.EXPIRED] += 1
            for task in replacements:
                by_project[task.project_id][task.bucket] += 1
            for project_id, moves in sorted(by_project.items()):
                count_moves(project_id, moves)
            released += len(expired)


# --- Choosing conversations -------------------------------------------------------------

LABELED_CHOICES = ("yes", "no")
STATUS_CHOICES = ("open", "escalated", "assigned", "in_progress", "submitted", "skipped")


def _clean_key(key: str) -> str:
    if not key or not all(ch.isalnum() or ch in "_-" for ch in key):
        raise InvalidInput(f'Metadata key "{key}" may only hold letters, digits, "_" and "-".')
    return key


MAX_FILTER_IDS = 50_000


def filter_conversations(project: Project, filters: dict[str, Any]) -> QuerySet:
    """The project's conversations matching a lead's filter (all of them for {}).

    Filters: `import_job` (an import's id), `metadata` ({key: value}, all must match),
    `tag` (in the conversation's "tags"), `status` (has a task in that state), `labeled`
    ("yes": at least one submitted annotation, "no": none), `ids` (external ids).
    """
    if not isinstance(filters, dict):
        raise InvalidInput('The filter must be an object like {"metadata": {"domain": "hr"}}.')
    unknown = set(filters) - {"import_job", "metadata", "tag", "status", "labeled", "ids"}
    if unknown:
        raise InvalidInput(f"Unknown filter: {', '.join(sorted(unknown))}.")
    conversations = Conversation.objects.filter(project=project)
    if (import_job := filters.get("import_job")) is not None:
        if isinstance(import_job, bool) or not isinstance(import_job, int):
            raise InvalidInput('"import_job" is the id of an import, a number.')
        conversations = conversations.filter(import_job_id=import_job)
    metadata = filters.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise InvalidInput('"metadata" must be an object of key: value.')
    for key, value in metadata.items():
        lookup = f"metadata__{_clean_key(key)}"
        # A form sends text: "3" or "true" also finds the number 3 or true in the data.
        matches = Q(**{lookup: value})
        for typed in _typed(value):
            matches |= Q(**{lookup: typed})
        conversations = conversations.filter(matches)
    if tag := filters.get("tag"):
        conversations = _with_tag(conversations, str(tag))
    if status := filters.get("status"):
        if status not in STATUS_CHOICES:
            raise InvalidInput(f'Unknown status "{status}" (expected {", ".join(STATUS_CHOICES)}).')
        tasks = Task.objects.filter(project=project).in_bucket(status)
        conversations = conversations.filter(id__in=tasks.values("conversation_id"))
    if labeled := filters.get("labeled"):
        if labeled not in LABELED_CHOICES:
            raise InvalidInput('"labeled" is "yes" or "no".')
        submitted = Task.objects.filter(project=project, status=Task.Status.SUBMITTED).values(
            "conversation_id"
        )
        conversations = (
            conversations.filter(id__in=submitted)
            if labeled == "yes"
            else conversations.exclude(id__in=submitted)
        )
    if ids := filters.get("ids"):
        if not isinstance(ids, list):
            raise InvalidInput('"ids" must be a list of conversation ids.')
        if len(ids) > MAX_FILTER_IDS:
            # Each id is a parameter, and PostgreSQL takes at most 65,535 per statement.
            raise InvalidInput(
                f'"ids" lists {len(ids):,} conversations; at most {MAX_FILTER_IDS:,} at a time '
                "(split the list, or select them by import, tag or metadata)."
            )
        conversations = conversations.filter(external_id__in=[str(i) for i in ids])
    return conversations


def _typed(value: Any) -> list[Any]:
    if not isinstance(value, str):
        return []
    if value.lower() in ("true", "false"):
        return [value.lower() == "true"]
    for parse in (int, float):
        try:
            return [parse(value)]
        except ValueError:
            continue
    return []


def _with_tag(conversations: QuerySet, tag: str) -> QuerySet:
    if connection.vendor == "postgresql":
        return conversations.filter(metadata__tags__contains=[tag])
    # SQLite has no JSON containment; json_each walks the list.
    table = Conversation._meta.db_table
    return conversations.extra(
        where=[f"EXISTS (SELECT 1 FROM json_each({table}.metadata, '$.tags') WHERE value = %s)"],
        params=[tag],
    )


# --- Assigning --------------------------------------------------------------------------


def _annotators(project: Project, usernames: Iterable[str]) -> list[User]:
    usernames = list(dict.fromkeys(usernames))
    members = {
        m.user.username: m.user
        for m in Membership.objects.filter(
            project=project, user__username__in=usernames
        ).select_related("user")
    }
    missing = [name for name in usernames if name not in members]
    if missing:
        raise InvalidInput(f"Not members of this project: {', '.join(missing)}.")
    return [members[name] for name in usernames]


def _experts(project: Project, expertise: str) -> tuple[ExpertiseTag, list[User]]:
    tag = _expertise_tag(expertise)
    users = list(
        User.objects.filter(memberships__project=project, expertise=tag, is_active=True).order_by(
            "username"
        )
    )
    if not users:
        raise InvalidInput(f'No member of this project has the expertise "{expertise}".')
    return tag, users


@transaction.atomic
def create_assignment_job(
    *,
    project: Project,
    actor: User,
    action: str,
    filters: dict[str, Any] | None = None,
    annotators: Iterable[str] = (),
    expertise: str = "",
    priority: int | None = None,
) -> AssignmentJob:
    """Check a lead's bulk action on filtered conversations and queue it for a worker."""
    project_services.require_lead(project, actor)
    if action not in AssignmentJob.Action.values:
        raise InvalidInput(
            f'Unknown action "{action}" (expected {", ".join(AssignmentJob.Action.values)}).'
        )
    filters = filters or {}
    conversations = filter_conversations(project, filters)  # checks the filter
    users: list[User] = []
    tag = None
    if action in (AssignmentJob.Action.ASSIGN, AssignmentJob.Action.DISTRIBUTE):
        if not project.serves_assigned:
            raise InvalidInput(
                "This project hands out work from the pool only; switch it to the assigned "
                "or mixed mode to assign work."
            )
        if expertise and annotators:
            raise InvalidInput("Choose annotators or an expertise, not both.")
        if expertise:
            tag, users = _experts(project, expertise)
        if annotators:
            users = _annotators(project, annotators)
        if not users:
            raise InvalidInput("Choose the annotators, or an expertise, to assign to.")
    elif action == AssignmentJob.Action.UNASSIGN and annotators:
        users = _annotators(project, annotators)
    if (priority is not None or action == AssignmentJob.Action.PRIORITIZE) and (
        not isinstance(priority, int)
        or isinstance(priority, bool)
        or not PRIORITY_MIN <= priority <= PRIORITY_MAX
    ):
        raise InvalidInput(
            f"Give the priority as a whole number from {PRIORITY_MIN:,} to {PRIORITY_MAX:,} "
            "(higher goes first)."
        )
    job = AssignmentJob.objects.create(
        project=project,
        created_by=actor,
        action=action,
        filters=filters,
        expertise=tag,
        priority=priority,
        total=conversations.count(),
    )
    job.annotators.set(users)
    from annotation import tasks  # tasks call this module; import here to avoid a cycle

    transaction.on_commit(lambda: tasks.distribute_assignments.delay(job.pk))
    return job


def _open_load(project: Project, users: list[User]) -> dict[int, int]:
    """Each user's open work in the project: assigned and in progress."""
    rows = (
        Task.objects.filter(
            project=project,
            assignee__in=users,
            status__in=[Task.Status.ASSIGNED, Task.Status.IN_PROGRESS],
        )
        .values("assignee_id")
        .annotate(n=Count("id"))
    )
    load = {user.pk: 0 for user in users}
    load.update({row["assignee_id"]: row["n"] for row in rows})
    return load


def _chunks(conversations: QuerySet) -> Iterator[list[int]]:
    last = 0
    while True:
        ids = list(
            conversations.filter(id__gt=last)
            .order_by("id")
            .values_list("id", flat=True)[:ASSIGNMENT_CHUNK]
        )
        if not ids:
            return
        yield ids
        last = ids[-1]


@dataclass
class _Outcome:
    changed: int = 0
    skipped: int = 0


def _assign_chunk(
    project: Project,
    conversation_ids: list[int],
    users: list[User],
    load: dict[int, int],
    *,
    every_user: bool,
    priority: int | None,
    now: datetime,
) -> _Outcome:
    """Fill open slots of these conversations with the users (all of them, or the least
    loaded ones), never giving anyone a conversation twice."""
    outcome = _Outcome()
    slots: dict[int, list[Task]] = defaultdict(list)
    for task in (
        Task.objects.select_for_update(skip_locked=True)
        .filter(conversation_id__in=conversation_ids, status=Task.Status.OPEN)
        .order_by("id")
    ):
        slots[task.conversation_id].append(task)
    taken = set(
        Task.objects.filter(conversation_id__in=conversation_ids, assignee__in=users).values_list(
            "conversation_id", "assignee_id"
        )
    )
    heap = [(load[user.pk], user.username, user.pk) for user in users]
    heapq.heapify(heap)
    moves: dict[str, int] = defaultdict(int)
    for conversation_id in conversation_ids:
        free = slots.get(conversation_id, [])
        if every_user:
            chosen = [u.pk for u in users if (conversation_id, u.pk) not in taken]
        else:
            # The least loaded first; ties by name, so the split is stable and even.
            chosen, passed = [], []
            while heap and len(chosen) < len(free):
                entry = heapq.heappop(heap)
                if (conversation_id, entry[2]) in taken:
                    passed.append(entry)
                else:
                    chosen.append(entry[2])
                    passed.append((entry[0] + 1, entry[1], entry[2]))
            for entry in passed:
                heapq.heappush(heap, entry)
        if not free or not chosen:
            outcome.skipped += 1
            continue
        pairs = list(zip(free, chosen, strict=False))
        try:
            # A savepoint per conversation: if someone claimed a slot of it from the pool
            # since we looked, the constraint refuses and only this conversation waits.
            with transaction.atomic():
                for task, user_id in pairs:
                    Task.objects.filter(pk=task.pk, status=Task.Status.OPEN).update(
                        status=Task.Status.ASSIGNED,
                        assignee_id=user_id,
                        assigned_at=now,
                        priority=task.priority if priority is None else priority,
                    )
        except IntegrityError:
            outcome.skipped += 1
            continue
        for task, user_id in pairs:
            moves[task.bucket] -= 1
            moves[Task.Status.ASSIGNED] += 1
            load[user_id] = load.get(user_id, 0) + 1
            outcome.changed += 1
    count_moves(project.pk, moves)
    return outcome


def _unassign_chunk(project: Project, conversation_ids: list[int], users: list[User]) -> _Outcome:
    tasks = Task.objects.filter(conversation_id__in=conversation_ids)
    if users:
        tasks = tasks.filter(assignee__in=users)
    rows = _unassign(project, tasks)
    touched = {conversation_id for _, conversation_id, _ in rows}
    return _Outcome(changed=len(rows), skipped=len(conversation_ids) - len(touched))


def _unassign(project: Project, tasks: QuerySet) -> list[tuple[int, int, int | None]]:
    """Hand the assigned, unstarted ones of `tasks` back to the pool, counts included."""
    rows = list(
        tasks.select_for_update()
        .filter(status=Task.Status.ASSIGNED)
        .values_list("id", "conversation_id", "required_expertise_id")
    )
    Task.objects.filter(pk__in=[task_id for task_id, _, _ in rows]).update(
        status=Task.Status.OPEN, assignee=None, assigned_at=None
    )
    moves: dict[str, int] = defaultdict(int)
    for _, _, expertise_id in rows:
        moves[Task.Status.ASSIGNED] -= 1
        moves[task_bucket(Task.Status.OPEN, expertise_id)] += 1  # escalated stays escalated
    count_moves(project.pk, moves)
    return rows


def _prioritize_chunk(conversation_ids: list[int], priority: int) -> _Outcome:
    changed = Task.objects.filter(
        conversation_id__in=conversation_ids,
        status__in=[Task.Status.OPEN, Task.Status.ASSIGNED, Task.Status.IN_PROGRESS],
    ).update(priority=priority)
    return _Outcome(changed=changed)


def run_assignment_job(job_id: int) -> AssignmentJob:
    """Carry out a queued bulk action, committing chunk by chunk with progress.

    Safe to run again: a finished job is left alone, and a rerun after a crash carries on
    (conversations already done have no open slot left for the same people).
    """
    return jobs.run(
        AssignmentJob,
        job_id,
        _run_assignments,
        failed="Stopped on an unexpected error ({error}); what was done so far stays.",
    )


def _run_assignments(job_id: int) -> AssignmentJob:
    job = AssignmentJob.objects.select_related("project").get(pk=job_id)
    project = job.project
    users = list(job.annotators.order_by("username"))
    load = _open_load(project, users) if users else {}
    now = timezone.now()
    conversations = filter_conversations(project, job.filters)
    done = _Outcome()
    processed = 0
    for conversation_ids in _chunks(conversations):
        with transaction.atomic():
            if job.action == AssignmentJob.Action.UNASSIGN:
                outcome = _unassign_chunk(project, conversation_ids, users)
            elif job.action == AssignmentJob.Action.PRIORITIZE:
                outcome = _prioritize_chunk(conversation_ids, job.priority)
            else:
                outcome = _assign_chunk(
                    project,
                    conversation_ids,
                    users,
                    load,
                    every_user=job.action == AssignmentJob.Action.ASSIGN,
                    priority=job.priority,
                    now=now,
                )
            processed += len(conversation_ids)
            done.changed += outcome.changed
            done.skipped += outcome.skipped
            AssignmentJob.objects.filter(pk=job.pk).update(
                processed=processed, changed=done.changed, skipped=done.skipped
            )
    verb = {
        AssignmentJob.Action.ASSIGN: "assigned",
        AssignmentJob.Action.DISTRIBUTE: "assigned",
        AssignmentJob.Action.UNASSIGN: "unassigned",
        AssignmentJob.Action.PRIORITIZE: "given priority",
    }[job.action]
    message = f"{done.changed:,} task{'s' if done.changed != 1 else ''} {verb}"
    if done.skipped:
        message += (
            f"; {done.skipped:,} conversation{'s' if done.skipped != 1 else ''} left as they were"
        )
    AssignmentJob.objects.filter(pk=job.pk).update(
        status=AssignmentJob.Status.SUCCEEDED,
        processed=processed,
        total=max(processed, job.total),
        message=message + ".",
        finished_at=timezone.now(),
    )
    job.refresh_from_db()
    return job


def get_assignment_job(*, job_id: int, user: User) -> AssignmentJob:
    job = AssignmentJob.objects.select_related("project").filter(pk=job_id).first()
    membership = job and project_services.get_membership(job.project, user)
    if job is None or membership is None or not membership.is_lead:
        raise NotFound("No such assignment.")
    return job


# --- Progress -------------------------------------------------------------------------


def member_counts(project: Project, user: User) -> dict[str, int]:
    """The project's tasks per bucket (from the maintained counts), its conversations, and
    the user's own submissions (through the assignee index): the project page's figures."""
    counts = task_counts(project)
    counts["mine_submitted"] = Task.objects.filter(
        project=project, assignee=user, status=Task.Status.SUBMITTED
    ).count()
    counts["conversations"] = project.conversations.count()
    return counts


def _count_of(rows: QuerySet) -> Subquery:
    """COUNT(*) of these rows as a subquery of the outer project (0 when there are none)."""
    counted = rows.order_by().values("project").annotate(n=Count("id")).values("n")
    return Coalesce(Subquery(counted), 0)


def my_projects(user: User) -> QuerySet:
    """The user's memberships with their project, its conversations and the user's own
    submissions: the home page. Each count is its own subquery on an index; counted through
    two joins, every conversation would meet every task of the project (a billion rows for
    a project of 30,000 conversations labeled once)."""
    project = OuterRef("project")
    return (
        Membership.objects.filter(user=user)
        .select_related("project")
        .annotate(
            conversations=_count_of(Conversation.objects.filter(project=project)),
            mine_submitted=_count_of(
                Task.objects.filter(project=project, assignee=user, status=Task.Status.SUBMITTED)
            ),
        )
        .order_by("project__name")
    )


def escalation_notes(task: Task) -> list[str]:
    """What annotators who sent this task's conversation to an expert wrote about it."""
    if task.required_expertise_id is None:
        return []
    skipped = Task.objects.filter(
        conversation_id=task.conversation_id,
        status=Task.Status.SKIPPED,
        skip_reason=Task.SkipReason.NEEDS_EXPERT,
    ).exclude(note="")
    return list(skipped.values_list("note", flat=True)[:3])


def _position_columns(user_id: str, project_id: str) -> tuple[str, list[Any]]:
    """Three columns for position(), given the SQL of the user's and the project's id, and
    their parameters: through the assignee index and the count rows."""
    quote = connection.ops.quote_name
    tasks, counts = quote(Task._meta.db_table), quote(TaskCount._meta.db_table)
    mine = (
        f"SELECT COUNT(*) FROM {tasks} x WHERE x.assignee_id = {user_id} AND x.status = %s "
        f"AND x.project_id = {project_id}"
    )
    pool = (
        f"SELECT COALESCE(SUM(n.count), 0) FROM {counts} n "
        f"WHERE n.project_id = {project_id} AND n.bucket = %s"
    )
    statuses = [Task.Status.SUBMITTED.value, Task.Status.ASSIGNED.value, Task.Status.OPEN.value]
    return f"({mine}), ({mine}), ({pool})", statuses


def _position(project: Project, done: Any, assigned: Any, pool: Any) -> dict[str, int]:
    # int(): SUM over bigint is numeric on PostgreSQL, and a plain cursor converts nothing.
    pool = int(pool) if project.serves_pool else 0
    return {"done": int(done), "waiting": int(assigned) + pool}


def position(project: Project, user: User) -> dict[str, int]:
    """Where the user is in the project: conversations done, and work waiting.

    `waiting` is what is assigned to them plus what the pool holds (some of which they
    may already have had): an estimate for the workspace header, read from the counts.
    The workspace asks on every page, so this is one plain query, not three compiled by the
    ORM each time; the page reads it with the task (resume_task(with_position=True)).
    """
    quote = connection.ops.quote_name
    columns, params = _position_columns("u.id", "p.id")
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {columns} FROM {quote(Project._meta.db_table)} p, "
            f"{quote(User._meta.db_table)} u WHERE p.id = %s AND u.id = %s",
            [*params, project.pk, user.pk],
        )
        return _position(project, *cursor.fetchone())


def progress(project: Project, membership: Membership) -> dict[str, Any]:
    """The project's progress for its leads and reviewers: counts, live total, per annotator."""
    if membership.role == Membership.Role.ANNOTATOR:
        raise NotAllowed("Only leads and reviewers can see the project's progress.")
    counts = task_counts(project)
    return {
        "counts": counts,
        "total": sum(counts[bucket] for bucket in LIVE_BUCKETS),
        "annotators": annotator_stats(project),
    }


def annotator_stats(project: Project, now: datetime | None = None) -> list[dict[str, Any]]:
    """Per member: submitted today and this week, the median seconds spent on a
    conversation this week, and open work (assigned and in progress).

    Reads only this week's submissions (an index on submitted tasks by completion time).
    """
    now = now or timezone.now()
    today = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    week = today - timedelta(days=today.weekday())
    members = list(
        Membership.objects.filter(project=project).select_related("user").order_by("user__username")
    )
    durations: dict[int, list[float]] = defaultdict(list)
    today_counts: dict[int, int] = defaultdict(int)
    for annotator_id, submitted_at, started_at in Annotation.objects.filter(
        task__project=project,
        task__status=Task.Status.SUBMITTED,
        task__completed_at__gte=week,
    ).values_list("annotator_id", "submitted_at", "started_at"):
        durations[annotator_id].append((submitted_at - started_at).total_seconds())
        if submitted_at >= today:
            today_counts[annotator_id] += 1
    open_work = _open_load(project, [m.user for m in members])
    return [
        {
            "username": m.user.username,
            "role": m.role,
            "submitted_today": today_counts.get(m.user_id, 0),
            "submitted_week": len(durations.get(m.user_id, [])),
            "median_seconds": (
                round(statistics.median(durations[m.user_id])) if durations.get(m.user_id) else None
            ),
            "open": open_work.get(m.user_id, 0),
        }
        for m in members
    ]


# --- Project settings that move tasks ---------------------------------------------------


@transaction.atomic
def update_project_settings(*, project: Project, actor: User, **changes: Any) -> Project:
    """Change a project's settings (leads only), keeping its tasks in step.

    A new `overlap` adds or removes open slots so every conversation has that many live
    tasks (work already started or done is never taken away); switching to the pool mode
    hands assigned, unstarted work back to the pool, where it will be served. The counts
    move with the tasks, in the same transaction, like every other change to tasks.
    """
    old_overlap, old_mode = project.overlap, project.assignment_mode
    project = project_services.update_project(project=project, actor=actor, **changes)
    if project.overlap != old_overlap:
        _resize_slots(project)
    if project.assignment_mode != old_mode and not project.serves_assigned:
        _unassign(project, Task.objects.filter(project=project))
    return project


def _resize_slots(project: Project) -> None:
    live = [s.value for s in Task.LIVE_STATUSES]
    marks = ", ".join(["%s"] * len(live))
    task = connection.ops.quote_name(Task._meta.db_table)
    conversation = connection.ops.quote_name(Conversation._meta.db_table)
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    slots = " UNION ALL ".join(f"SELECT {k} AS k" for k in range(1, MAX_OVERLAP + 1))
    moves: dict[str, int] = defaultdict(int)
    with connection.cursor() as cursor:
        # Too few: one more open task per missing slot (a conversation at a time is not
        # needed: the numbers table below makes it one statement).
        cursor.execute(
            f"INSERT INTO {task} (project_id, conversation_id, status, priority, created_at) "
            f"SELECT c.project_id, c.id, %s, 0, %s FROM {conversation} c "
            f"JOIN (SELECT conversation_id, COUNT(*) AS n FROM {task} "
            f"      WHERE project_id = %s AND status IN ({marks}) GROUP BY conversation_id) l "
            f"  ON l.conversation_id = c.id "
            f"JOIN ({slots}) slots ON slots.k <= %s - l.n "
            f"WHERE c.project_id = %s",
            [Task.Status.OPEN, now, project.pk, *live, project.overlap, project.pk],
        )
        moves[Task.Status.OPEN] += cursor.rowcount
        # Too many: drop open slots (newest first), never work already given out.
        cursor.execute(
            f"DELETE FROM {task} WHERE id IN ("
            f" SELECT id FROM ("
            f"  SELECT t.id, ROW_NUMBER() OVER ("
            f"   PARTITION BY t.conversation_id ORDER BY t.id DESC) AS r, l.n"
            f"  FROM {task} t JOIN ("
            f"   SELECT conversation_id, COUNT(*) AS n FROM {task}"
            f"   WHERE project_id = %s AND status IN ({marks}) GROUP BY conversation_id) l"
            f"   ON l.conversation_id = t.conversation_id"
            f"  WHERE t.project_id = %s AND t.status = %s) ranked"
            f" WHERE r <= n - %s) RETURNING required_expertise_id",
            [project.pk, *live, project.pk, Task.Status.OPEN, project.overlap],
        )
        for (expertise_id,) in cursor.fetchall():
            moves[task_bucket(Task.Status.OPEN, expertise_id)] -= 1
    count_moves(project.pk, moves)
