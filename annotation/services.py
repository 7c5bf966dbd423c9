"""Annotations: loading a task for its annotator, saving and submitting answers.

Views, the API, management commands and Celery tasks all call these functions, so the
browser, scripts and workers can never disagree about a rule. The queue (claiming,
leases, skipping, assignment) is in `annotation.queue`; importing in `annotation.imports`.
"""

from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import JSONField, OuterRef, Subquery
from django.utils import timezone

from accounts.models import User
from annotation import answers as answer_rules
from annotation import queue
from annotation.exceptions import (
    Conflict,
    InvalidAnswers,
    InvalidInput,
    MissingRequired,
    NotFound,
    StaleVersion,
)
from annotation.models import Annotation, Flag, Task, Turn, TurnAnswer
from projects import cache as schema_cache
from projects import services as project_services

# --- Loading tasks ----------------------------------------------------------------------


def get_task_for_annotator(*, task_id: int, user: User) -> Task:
    """Load a task that belongs to the user, or raise NotFound."""
    task = Task.objects.for_workspace().filter(pk=task_id, assignee=user).first()
    if task is None or not hasattr(task, "annotation"):
        raise NotFound("No such task.")
    return task


# --- Saving and submitting ---------------------------------------------------------------


def _write_turn_answers(
    annotation: Annotation, turn_ids: dict[int, int], clean: dict[int, dict[str, Any]]
) -> None:
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
    if created:
        TurnAnswer.objects.bulk_create(created)
    if len(changed) == 1:  # an autosave after one click: a plain UPDATE
        TurnAnswer.objects.filter(pk=changed[0].pk).update(answers=changed[0].answers)
    elif changed:
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
    turn_rows: list[Turn] | None = None,
) -> Annotation:
    """Replace the user's answers on a task, guarded by the version they last saw.

    The whole annotation is sent each time. A stale version raises StaleVersion and writes
    nothing; with submit=True, missing required answers raise MissingRequired and nothing
    is saved or submitted. Saving extends the task's lease (at most once a minute).

    `task` only needs its id; one loaded with `Task.objects.for_workspace()` (as the
    workspace has it) is not read again, and `turn_rows` (the conversation's turns, with
    their index, role and id) spare reading those: the autosave runs on every change.
    """
    now = now or timezone.now()
    with transaction.atomic():
        # Every writer locks the task row first, so its annotation needs no lock of its own;
        # of=self, because a joined row locked FOR UPDATE (the project!) would serialise every
        # save in the project and deadlock with foreign key checks. What a save checks is
        # read here, under the lock; the rest (schema, conversation) never changes.
        locked = (
            Task.objects.select_for_update(of=("self",))
            .filter(pk=task.pk, assignee=user)
            .values_list("status", "lease_expires_at", "annotation__version", "annotation__status")
        )
        row = next(iter(locked), None)
        if row is None or row[2] is None:
            raise NotFound("No such task.")
        if not Task._meta.get_field("annotation").is_cached(task):
            task = Task.objects.for_workspace().get(pk=task.pk)
        task.status, task.lease_expires_at = row[0], row[1]
        annotation = task.annotation
        annotation.version, annotation.status = row[2], row[3]
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
        if turn_rows is None:
            turn_rows = list(task.conversation.turns.only("index", "role", "conversation_id"))
        turn_refs = [answer_rules.TurnRef(index=t.index, role=t.role) for t in turn_rows]
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

        _write_turn_answers(annotation, {t.index: t.pk for t in turn_rows}, clean.turns)
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
            queue.renew_lease(task, task.project, now)
        annotation.save(update_fields=fields)
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
    """The task's conversation turns in order, read with its annotation's answers to them in
    the same query; annotation_answers() then reads nothing more."""
    annotation = task.annotation
    saved = TurnAnswer.objects.filter(annotation=annotation, turn=OuterRef("pk")).values("answers")
    turns = list(
        Turn.objects.filter(conversation_id=task.conversation_id)
        .annotate(saved=Subquery(saved, output_field=JSONField()))
        .order_by("index")
    )
    annotation.answers_cache = {
        "turns": {str(t.index): t.saved for t in turns if t.saved is not None},
        "conversation": annotation.answers,
    }
    return turns


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
