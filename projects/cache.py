"""Schemas in use never change (an edit makes a new version), so they are cached by id:
claiming and saving, the hottest requests, then skip reading and serialising questions.

The questions are kept in each process as well (the last LOCAL_SCHEMAS schemas used, for
LOCAL_TTL seconds): the workspace page and every autosave need them, and even a local cache
unpickles them anew. The TTL bounds how long a process could show questions changed in the
admin, which does not stop a lead from editing a schema in use.
"""

import time
from collections import OrderedDict
from threading import Lock
from typing import Any

from django.core.cache import cache

from projects import schemas
from projects.models import LabelSchema, Question

TTL = 24 * 3600


def _key(kind: str, schema: LabelSchema) -> str:
    # The creation time too: an id alone can come back (SQLite reuses rolled-back ids).
    return f"schema-{kind}:{schema.pk}:{schema.created_at.timestamp()}"


LOCAL_SCHEMAS = 64
LOCAL_TTL = 300
_local: OrderedDict[str, tuple[float, list[Question]]] = OrderedDict()
_local_lock = Lock()


def schema_questions(schema: LabelSchema) -> list[Question]:
    """The schema's questions, in order; from the caches once the schema is in use.

    The list is shared: read it, never change it.
    """
    if not schema.in_use:
        return list(schema.questions.all())
    key = _key("questions", schema)
    with _local_lock:
        kept = _local.get(key)
        if kept is not None and kept[0] > time.monotonic():
            _local.move_to_end(key)
            return kept[1]
    questions = cache.get(key)
    if questions is None:
        questions = list(schema.questions.all())
        cache.set(key, questions, TTL)
    with _local_lock:
        _local[key] = (time.monotonic() + LOCAL_TTL, questions)
        _local.move_to_end(key)
        while len(_local) > LOCAL_SCHEMAS:
            _local.popitem(last=False)
    return questions


def schema_payload(schema: LabelSchema) -> dict[str, Any]:
    """The schema as the API returns it (schemas.schema_as_dict), cached once in use."""
    if not schema.in_use:
        return schemas.schema_as_dict(schema)
    key = _key("payload", schema)
    payload = cache.get(key)
    if payload is None:
        payload = schemas.schema_as_dict(schema)
        cache.set(key, payload, TTL)
    return payload
