"""Stream a project's conversations and labels as JSONL, in constant memory."""

from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import orjson
from django.db.models import Exists, OuterRef

from annotation.models import Annotation, Conversation, Flag, Turn, TurnAnswer
from projects.models import Project

EXPORT_FORMATS = ("native",)
CHUNK_SIZE = 500


def _timestamp(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _chunks(project: Project, *, without_flagged: bool = False) -> Iterator[list[Conversation]]:
    # Keyset pagination: each chunk starts after the last id, so memory stays flat and
    # no OFFSET scan grows with the project.
    conversations = Conversation.objects.filter(project=project)
    if without_flagged:
        open_flags = Flag.objects.filter(conversation=OuterRef("pk"), resolved_at__isnull=True)
        conversations = conversations.exclude(Exists(open_flags))
    last_id = 0
    while True:
        chunk = list(
            conversations.filter(id__gt=last_id)
            .order_by("id")
            .only("id", "external_id", "metadata")[:CHUNK_SIZE]
        )
        if not chunk:
            return
        yield chunk
        last_id = chunk[-1].id


def _native_records(
    chunk: list[Conversation], statuses: tuple[str, ...]
) -> Iterator[dict[str, Any]]:
    ids = [c.id for c in chunk]
    turns: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for conversation_id, index, role, text, metadata in (
        Turn.objects.filter(conversation_id__in=ids)
        .order_by("conversation_id", "index")
        .values_list("conversation_id", "index", "role", "text", "metadata")
    ):
        turns[conversation_id].append(
            {"index": index, "role": role, "text": text, "metadata": metadata}
        )
    annotations = list(
        Annotation.objects.filter(task__conversation_id__in=ids, status__in=statuses)
        .order_by("id")
        .values_list(
            "id",
            "task__conversation_id",
            "annotator__username",
            "status",
            "answers",
            "submitted_at",
            "schema__version",
            "guidelines_version",
        )
    )
    answers: dict[int, dict[str, Any]] = defaultdict(dict)
    for annotation_id, index, turn_answers in (
        TurnAnswer.objects.filter(annotation_id__in=[a[0] for a in annotations])
        .order_by("annotation_id", "turn__index")
        .values_list("annotation_id", "turn__index", "answers")
    ):
        answers[annotation_id][str(index)] = turn_answers
    by_conversation: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for (
        annotation_id,
        conversation_id,
        annotator,
        status,
        conv_answers,
        submitted_at,
        schema_version,
        guidelines_version,
    ) in annotations:
        by_conversation[conversation_id].append(
            {
                "annotator": annotator,
                "status": status,
                "turns": answers.get(annotation_id, {}),
                "conversation": conv_answers,
                "submitted_at": _timestamp(submitted_at),
                # What the answers mean depends on the questions and guidelines they
                # answered; both are versioned, and old versions stay readable.
                "schema_version": schema_version,
                "guidelines_version": guidelines_version,
            }
        )
    # Open flags go with the data: a conversation reported for personal data or broken text
    # is marked where a training pipeline reads it (or left out with without_flagged).
    flags: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for conversation_id, kind, note, created_at in (
        Flag.objects.filter(conversation_id__in=ids, resolved_at__isnull=True)
        .order_by("conversation_id", "created_at", "id")
        .values_list("conversation_id", "kind", "note", "created_at")
    ):
        flags[conversation_id].append(
            {"kind": kind, "note": note, "raised_at": _timestamp(created_at)}
        )
    for conversation in chunk:
        yield {
            "id": conversation.external_id,
            "metadata": conversation.metadata,
            "turns": turns[conversation.id],
            "annotations": by_conversation[conversation.id],
            "flags": flags[conversation.id],
        }


def export_native(
    project: Project, *, submitted_only: bool = False, without_flagged: bool = False
) -> Iterator[bytes]:
    """Yield one JSON line per conversation with its turns, annotations and open flags;
    without_flagged leaves out conversations with an open flag."""
    statuses = (
        (Annotation.Status.SUBMITTED,)
        if submitted_only
        else (Annotation.Status.DRAFT, Annotation.Status.SUBMITTED)
    )
    for chunk in _chunks(project, without_flagged=without_flagged):
        for record in _native_records(chunk, statuses):
            yield orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE)
