"""Schemas in use never change (an edit makes a new version), so they are cached by id:
claiming and saving, the hottest requests, then skip reading and serialising questions.

The questions are kept in each process as well (the last 64 schemas used, for five
minutes: ProcessCache): the workspace page and every autosave need them, and even a local cache
unpickles them anew. The TTL bounds how long a process could show questions changed in the
admin, which does not stop a lead from editing a schema in use.
"""

import time
from collections import OrderedDict
from collections.abc import Hashable, Iterator
from threading import Lock
from typing import Any

from django.core.cache import cache

from projects import schemas
from projects.models import LabelSchema, Question

TTL = 24 * 3600


def _key(kind: str, schema: LabelSchema) -> str:
    # The creation time too: an id alone can come back (SQLite reuses rolled-back ids).
    return f"schema-{kind}:{schema.pk}:{schema.created_at.timestamp()}"


class ProcessCache:
    """What one process keeps for itself, shared by its threads: the last `size` values
    used, each for `ttl` seconds. For what every request reads and a shared cache would
    unpickle anew each time (a schema's questions, a conversation's turns)."""

    def __init__(self, size: int, ttl: float):
        self.size, self.ttl = size, ttl
        self._kept: OrderedDict[Hashable, tuple[float, Any]] = OrderedDict()
        self._lock = Lock()

    def get(self, key: Hashable) -> Any:
        """The value kept under `key`, or None if there is none or it expired."""
        with self._lock:
            kept = self._kept.get(key)
            if kept is None or kept[0] <= time.monotonic():
                return None
            self._kept.move_to_end(key)
            return kept[1]

    def put(self, key: Hashable, value: Any) -> None:
        with self._lock:
            self._kept[key] = (time.monotonic() + self.ttl, value)
            self._kept.move_to_end(key)
            while len(self._kept) > self.size:
                self._kept.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._kept.clear()

    def __len__(self) -> int:
        return len(self._kept)

    def __iter__(self) -> Iterator[Hashable]:
        return iter(list(self._kept))


_local = ProcessCache(size=64, ttl=300)


def schema_questions(schema: LabelSchema) -> list[Question]:
    """The schema's questions, in order; from the caches once the schema is in use.

    The list is shared: read it, never change it.
    """
    if not schema.in_use:
        return list(schema.questions.all())
    key = _key("questions", schema)
    questions = _local.get(key)
    if questions is not None:
        return questions
    questions = cache.get(key)
    if questions is None:
        questions = list(schema.questions.all())
        cache.set(key, questions, TTL)
    _local.put(key, questions)
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
