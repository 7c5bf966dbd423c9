"""Annotations: loading a task for its annotator, saving and submitting answers.

Views, the API, management commands and Celery tasks all call these functions, so the
browser, scripts and workers can never disagree about a rule. The queue (claiming,
leases, skipping, assignment) is in `annotation.queue`; importing in `annotation.imports`.
"""

from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone

from accounts.models import User
from annotation import answers as answer_rules
from annotation import queue, rows
from annotation import turns as turn_cache
from annotation.exceptions import (
    Conflict,
    InvalidAnswers,
    InvalidInput,
    MissingRequired,
    NotFound,
    StaleVersion,
)
from annotation.models import Annotation, Conversation, Flag, Task, Turn, TurnAnswer
from annotation.turns import saved_answers
from projects import cache as schema_cache
from projects import services as project_services
from projects.models import LabelSchema, Project, Question

# --- Loading tasks ----------------------------------------------------------------------


def get_task_for_annotator(*, task_id: int, user: User) -> Task:
    """Load a task that belongs to the user, or raise NotFound."""
    task = Task.objects.for_workspace().filter(pk=task_id, assignee=user).first()
    if task is None or not hasattr(task, "annotation"):
        raise NotFound("No such task.")
    return task


# --- Saving and submitting ---------------------------------------------------------------


class _AnswerChanges:
    """What a save changes in the turn answers, against those read with the annotation.

    Nothing is written until the annotation's version has been checked (see
    save_annotation): on PostgreSQL the answers were read in the statement that waited for
    the task's lock, and may predate a save that held it meanwhile; writing them first
    would collide with that save's rows (an error instead of a refusal). The one answer an
    autosave after a click changes rides in the version's own UPDATE (`along`)."""

    def __init__(self, annotation: Annotation, turns: list[Turn], clean: dict[int, Any]):
        self.annotation = annotation
        self.saved = saved = saved_answers(annotation)  # turn id: (row id, answers)
        annotation.__dict__.pop("saved_answers", None)  # soon no longer what is saved
        wanted = {t.pk: clean[t.index] for t in turns if t.index in clean}
        self.stale = [turn_id for turn_id in saved if turn_id not in wanted]
        self.created = [
            TurnAnswer(annotation=annotation, turn_id=turn_id, answers=answers)
            for turn_id, answers in wanted.items()
            if turn_id not in saved
        ]
        self.changed = {
            turn_id: answers
            for turn_id, answers in wanted.items()
            if turn_id in saved and saved[turn_id][1] != answers
        }

    def write_version(self, where: str, params: list[Any], changes: dict[str, Any]) -> int:
        """Move the annotation's version (UPDATE ... WHERE `where`), with the one changed
        answer if there is one; the rows changed (0: the version was not the one read). An
        answer row that has gone meanwhile (deleted in the admin) is written anew."""
        version = rows.update_statement(Annotation, changes, where, params, increment=["version"])
        if len(self.changed) != 1:
            return rows.run(version)
        [(turn_id, answers)] = self.changed.items()
        along = rows.update_statement(
            TurnAnswer, {"answers": answers}, "id = %s", [self.saved[turn_id][0]]
        )
        written, moved = rows.update_along(version, along)
        if written and not moved:
            self.created.append(
                TurnAnswer(annotation=self.annotation, turn_id=turn_id, answers=answers)
            )
        return written

    def write_the_rest(self) -> None:
        """Once the version moved: deletes, a set of changes (the API), new answers."""
        if self.stale:
            TurnAnswer.objects.filter(annotation=self.annotation, turn_id__in=self.stale).delete()
        if len(self.changed) > 1:
            updates = [
                TurnAnswer(pk=self.saved[turn_id][0], answers=answers)
                for turn_id, answers in self.changed.items()
            ]
            TurnAnswer.objects.bulk_update(updates, ["answers"])
        if self.created:
            TurnAnswer.objects.bulk_create(self.created)


# The task, its project, annotation and schema, as save_annotation locks them, and what
# its conversation's turns are kept under (annotation.turns).
_SAVE_ROWS = (
    rows.Selected(Task, "t"),
    rows.Selected(Project, "p"),
    rows.Selected(Annotation, "a"),
    rows.Selected(LabelSchema, "s"),
    rows.Selected(Conversation, "c", ["id", "created_at"]),
)


def _lock_task(task_id: int, user: User) -> Task | None:
    """Lock the user's task (with an annotation) for a save, and read what a save needs.

    Every writer locks the task row first: saves and submits of one task run one at a
    time (the annotation's version is then checked by its UPDATE, see save_annotation).
    FOR UPDATE OF the task only, because a joined row locked too (the project!) would
    serialise every save in the project and deadlock with foreign key checks. Of the
    conversation, only what its turns are kept under: its metadata is read when a question
    needs its sources. The annotation's saved answers come in the same statement. On
    PostgreSQL that statement's snapshot may predate a save that held the lock meanwhile,
    but such a save moved the version, which the write checks again. Hand-written (see
    annotation.rows).
    """
    table = rows.tables(_SAVE_ROWS)
    lock = " FOR UPDATE OF t" if connection.features.has_select_for_update_of else ""
    found = rows.fetch_first(
        f"SELECT {rows.select_list(_SAVE_ROWS)}, {turn_cache.saved_answers_column('a')} "
        f"FROM {table['t']} t "
        f"JOIN {table['p']} p ON p.id = t.project_id "
        f"JOIN {table['a']} a ON a.task_id = t.id "
        f"JOIN {table['s']} s ON s.id = a.schema_id "
        f"JOIN {table['c']} c ON c.id = t.conversation_id "
        f"WHERE t.id = %s AND t.assignee_id = %s{lock}",
        [task_id, user.pk],
        _SAVE_ROWS,
    )
    if found is None:
        return None
    task, task.project, annotation, annotation.schema, task.conversation, saved = found
    task.annotation = annotation
    turn_cache.set_saved_answers(annotation, saved)
    return task


FormReader = Callable[[list[Question], list[Turn]], dict[str, Any]]


def save_annotation(
    *,
    task: Task,
    user: User,
    version: int,
    turns: Any = None,
    conversation: Any = None,
    submit: bool = False,
    now: datetime | None = None,
    read_form: FormReader | None = None,
) -> Annotation:
    """Replace the user's answers on a task, guarded by the version they last saw.

    The whole annotation is sent each time: `turns` and `conversation` as the API takes
    them, or `read_form`, which the workspace passes to build them from its posted form
    with the questions and turns this loads anyway (an autosave then reads each once).
    A stale version raises StaleVersion and writes nothing; with submit=True, missing
    required answers raise MissingRequired and nothing is saved or submitted. Saving
    extends the task's lease (at most once a minute). `task` only needs its id; the
    annotation returned comes with its task and the task's project.
    """
    now = now or timezone.now()
    with transaction.atomic():
        task = _lock_task(task.pk, user)
        if task is None:
            raise NotFound("No such task.")
        annotation = task.annotation
        if annotation.status == Annotation.Status.SUBMITTED:
            raise Conflict("This annotation is already submitted and can no longer change.")
        if task.status != Task.Status.IN_PROGRESS:
            raise Conflict(
                "This task is no longer yours to label (its lease ran out or it was released). "
                "Your last change was not saved; open the next task to continue."
            )
        if version != annotation.version:
            raise StaleVersion(annotation.version)

        questions = schema_cache.schema_questions(annotation.schema)
        turn_rows = workspace_turns(task)
        if read_form is not None:
            posted = read_form(questions, turn_rows)
            turns, conversation = posted["turns"], posted["conversation"]
        turn_refs = [answer_rules.TurnRef(index=t.index, role=t.role) for t in turn_rows]
        sources = {}
        if any(q.kind == Question.Kind.EVIDENCE for q in questions):
            sources = answer_rules.source_texts(
                answer_rules.conversation_sources(task.conversation.metadata)
            )
        clean, errors = answer_rules.clean_answers(
            questions, turn_refs, turns, conversation, sources
        )
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

        answer_changes = _AnswerChanges(annotation, turn_rows, clean.turns)
        changes: dict[str, Any] = {"answers": clean.conversation, "updated_at": now}
        if submit:
            changes.update(status=Annotation.Status.SUBMITTED, submitted_at=now)
        # The version is checked again by the write itself, before any answer is written.
        # The annotation above was read in the statement that waited for the task's lock,
        # so on PostgreSQL it may predate a save that held the lock meanwhile; this UPDATE
        # sees the committed row, and a stale version writes nothing (the exception rolls
        # back the one answer that rode along).
        written = answer_changes.write_version(
            "id = %s AND version = %s AND status = %s",
            [annotation.pk, version, Annotation.Status.DRAFT.value],
            changes,
        )
        if not written:
            current = Annotation.objects.filter(pk=annotation.pk).values_list("version", "status")
            current_version, current_status = current.get()
            if current_status == Annotation.Status.SUBMITTED:
                raise Conflict("This annotation is already submitted and can no longer change.")
            raise StaleVersion(current_version)
        answer_changes.write_the_rest()
        for name, value in changes.items():
            setattr(annotation, name, value)
        annotation.version = version + 1
        if submit:
            task.status = Task.Status.SUBMITTED
            task.completed_at = now
            task.lease_expires_at = None
            task.save(update_fields=["status", "completed_at", "lease_expires_at"])
        else:
            queue.renew_lease(task, task.project, now)
        if submit:
            # Last: the shared count row is held only from here to the commit.
            queue.count_moves(
                task.project_id, {Task.Status.IN_PROGRESS: -1, Task.Status.SUBMITTED: 1}
            )
    # What was just written is what a reader would get: no need to read it back.
    annotation.answers_cache = {
        "turns": {str(index): answers for index, answers in sorted(clean.turns.items())},
        "conversation": clean.conversation,
    }
    return annotation


def workspace_turns(task: Task) -> list[Turn]:
    """The task's conversation turns in order (shared between requests: read them, never
    change them; see annotation.turns), with its annotation's saved answers kept for
    annotation_answers(). The page, every autosave and the API's claim need both."""
    annotation = task.annotation
    turns = turn_cache.conversation_turns(task.conversation)
    saved = saved_answers(annotation)
    annotation.answers_cache = {
        "turns": {str(t.index): saved[t.pk][1] for t in turns if t.pk in saved},
        "conversation": annotation.answers,
    }
    return list(turns)


def annotation_answers(annotation: Annotation) -> dict[str, Any]:
    """The annotation's answers as {"turns": {"<index>": {...}}, "conversation": {...}}."""
    cached = getattr(annotation, "answers_cache", None)
    if cached is not None:
        return cached
    if annotation.version == 1:  # a fresh draft, never saved: nothing to read back
        return {"turns": {}, "conversation": annotation.answers}
    rows = annotation.turn_answers.values_list("turn__index", "answers")
    return {
        "turns": {str(index): answers for index, answers in sorted(rows)},
        "conversation": annotation.answers,
    }


# --- Flags ------------------------------------------------------------------------------


def flag_conversation(*, task_id: int, user: User, kind: str, note: str = "") -> Flag:
    """Report a problem with a task's conversation (personal data, broken text...)."""
    task = Task.objects.select_related("conversation").filter(pk=task_id, assignee=user).first()
    if task is None:
        raise NotFound("No such task.")
    if kind not in Flag.Kind.values:
        raise InvalidInput(f'Unknown kind "{kind}" (expected {", ".join(Flag.Kind.values)}).')
    note = (note or "").strip()
    if kind == Flag.Kind.OTHER and not note:
        raise InvalidInput("Say what is wrong in the note.")
    return Flag.objects.create(
        project_id=task.project_id,
        conversation=task.conversation,
        raised_by=user,
        kind=kind,
        note=note[:2000],
    )


def project_flags(project: Project, *, resolved: bool | None = False) -> QuerySet:
    """The project's flags, newest first, with their conversation and who raised and
    resolved them: the open ones, the resolved ones (resolved=True), or all (None). For the
    leads' dashboard and the API; the callers check the reader is a lead."""
    flags = project.flags.select_related("conversation", "raised_by", "resolved_by")
    if resolved is not None:
        flags = flags.filter(resolved_at__isnull=not resolved)
    return flags.order_by("-created_at", "-id")


def resolve_flag(*, flag_id: int, user: User) -> Flag:
    """Mark a flag dealt with; leads only."""
    flag = Flag.objects.select_related("project").filter(pk=flag_id).first()
    membership = flag and project_services.get_membership(flag.project, user)
    if flag is None or membership is None:
        raise NotFound("No such flag.")
    project_services.check_lead(membership)
    if flag.resolved_at is None:
        flag.resolved_at = timezone.now()
        flag.resolved_by = user
        flag.save(update_fields=["resolved_at", "resolved_by"])
    return flag
