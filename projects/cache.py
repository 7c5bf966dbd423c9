"""Schemas in use never change (an edit makes a new version), so they are cached by id:
claiming and saving, the hottest requests, then skip reading and serialising questions."""

from typing import Any

from django.core.cache import cache

from projects import schemas
from projects.models import LabelSchema, Question

TTL = 24 * 3600


def _key(kind: str, schema: LabelSchema) -> str:
    # The creation time too: an id alone can come back (SQLite reuses rolled-back ids).
    return f"schema-{kind}:{schema.pk}:{schema.created_at.timestamp()}"


def schema_questions(schema: LabelSchema) -> list[Question]:
    """The schema's questions, in order; from the cache once the schema is in use."""
    if not schema.in_use:
        return list(schema.questions.all())
    key = _key("questions", schema)
    questions = cache.get(key)
    if questions is None:
        questions = list(schema.questions.all())
        cache.set(key, questions, TTL)
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
