"""A conversation's turns and an annotation's saved answers to them, as the workspace reads
them on every request: the page, each autosave and the API's claim.

Turns do not change once imported, so each process keeps the turns of the conversations it
served last (256 of them, for five minutes) and builds them once, not on every autosave.
A turn edited in the admin is seen at once by the process that saved it and within five
minutes by the others, as a schema edited in the admin is (projects.cache).
The turns kept are shared between requests and threads: read them, never change them.

The saved answers change with every save. The statements that load the task for the page
and for a save select them beside the task (`saved_answers_column`), so that reading them
costs no round trip of its own.
"""

from typing import Any

from django.db import connection
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from annotation import rows
from annotation.models import Annotation, Conversation, Turn, TurnAnswer
from projects.cache import ProcessCache

_local = ProcessCache(size=256, ttl=300)


def conversation_turns(conversation: Conversation) -> tuple[Turn, ...]:
    """The conversation's turns in order; `conversation` needs its id and created_at."""
    # The creation time too: an id alone can come back (SQLite reuses rolled-back ids).
    key = (conversation.pk, conversation.created_at)
    turns = _local.get(key)
    if turns is None:
        turns = tuple(Turn.objects.filter(conversation_id=conversation.pk).order_by("index"))
        _local.put(key, turns)
    return turns


@receiver(post_save, sender=Turn)
@receiver(post_delete, sender=Turn)
def _forget_turns(**_kwargs: Any) -> None:
    """A turn edited or removed (the admin): this process reads turns afresh."""
    _local.clear()


def saved_answers_column(annotation_alias: str) -> str:
    """A column to select beside an annotation (under this alias): its saved answers."""
    table = connection.ops.quote_name(TurnAnswer._meta.db_table)
    return rows.json_rows(
        ["x.turn_id", "x.id", "x.answers"],
        f"FROM {table} x WHERE x.annotation_id = {annotation_alias}.id",
        json_columns=["x.answers"],
    )


SavedAnswers = dict[int, tuple[int, dict[str, Any]]]


def set_saved_answers(annotation: Annotation, column: Any) -> None:
    """Keep on the annotation what saved_answers_column selected."""
    annotation.saved_answers = {
        turn_id: (row_id, answers) for turn_id, row_id, answers in rows.from_json_rows(column)
    }


def saved_answers(annotation: Annotation) -> SavedAnswers:
    """The annotation's answers by turn id, with the id of the row holding each: as selected
    with the annotation if they were, else read now."""
    found = getattr(annotation, "saved_answers", None)
    if found is None:
        found = {
            turn_id: (row_id, answers)
            for turn_id, row_id, answers in TurnAnswer.objects.filter(
                annotation=annotation
            ).values_list("turn_id", "id", "answers")
        }
        annotation.saved_answers = found
    return found
