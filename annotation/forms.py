"""The workspace's answer form: field names, reading a POST, and the panels to render.

Field names follow the answer paths of `annotation.answers`: `turns.<index>.<key>` and
`conversation.<key>`. The whole form is posted on every change, so a field that is absent
or empty means "not answered".
"""

from dataclasses import dataclass, field
from typing import Any

from django import forms
from django.http import QueryDict

from annotation import importers
from annotation.models import Turn
from projects.models import Question


def turn_field(index: int, key: str) -> str:
    return f"turns.{index}.{key}"


def conversation_field(key: str) -> str:
    return f"conversation.{key}"


def _read(post: QueryDict, name: str, question: Question) -> Any:
    if question.kind == Question.Kind.MULTI:
        return post.getlist(name)
    raw = post.get(name, "")
    if question.kind in (Question.Kind.TEXT, Question.Kind.REWRITE):
        return raw if raw.strip() else ""
    raw = raw.strip()
    if raw == "":
        return None
    if question.kind == Question.Kind.BOOLEAN:
        return {"true": True, "false": False}.get(raw, raw)
    if question.kind == Question.Kind.RATING:
        try:
            return int(raw)
        except ValueError:
            return raw  # left for the answer rules to report
    return raw


def payload_from_post(
    post: QueryDict, questions: list[Question], turns: list[Turn]
) -> dict[str, Any]:
    """Turn a posted workspace form into the API's {"turns": ..., "conversation": ...}."""
    payload: dict[str, Any] = {"turns": {}, "conversation": {}}
    for turn in turns:
        answers = {
            q.key: _read(post, turn_field(turn.index, q.key), q)
            for q in questions
            if q.applies_to(turn.role)
        }
        answers = {k: v for k, v in answers.items() if v not in (None, "", [])}
        if answers:
            payload["turns"][str(turn.index)] = answers
    for q in questions:
        if q.scope == Question.Scope.CONVERSATION:
            value = _read(post, conversation_field(q.key), q)
            if value not in (None, "", []):
                payload["conversation"][q.key] = value
    return payload


@dataclass
class Field:
    question: Question
    name: str
    value: Any
    error: str = ""

    @property
    def selected(self) -> set[str]:
        if isinstance(self.value, list):
            return set(self.value)
        if self.value is None:
            return set()
        return {str(self.value).lower() if isinstance(self.value, bool) else str(self.value)}

    @property
    def rating_values(self) -> list[int]:
        return list(range(self.question.rating_min, self.question.rating_max + 1))

    @property
    def dom_id(self) -> str:
        return "q-" + self.name.replace(".", "-")


@dataclass
class TurnPanel:
    turn: Turn
    fields: list[Field] = field(default_factory=list)


def build_panels(
    questions: list[Question],
    turns: list[Turn],
    answers: dict[str, Any],
    errors: dict[str, str] | None = None,
) -> tuple[list[TurnPanel], list[Field]]:
    """Pair each turn with the questions asked about it, filled with current answers."""
    errors = errors or {}
    turn_answers = answers.get("turns", {})
    panels = []
    for turn in turns:
        current = turn_answers.get(str(turn.index), {})
        fields = [
            Field(
                question=q,
                name=turn_field(turn.index, q.key),
                value=current.get(q.key),
                error=errors.get(turn_field(turn.index, q.key), ""),
            )
            for q in questions
            if q.applies_to(turn.role)
        ]
        panels.append(TurnPanel(turn=turn, fields=fields))
    conversation_fields = [
        Field(
            question=q,
            name=conversation_field(q.key),
            value=answers.get("conversation", {}).get(q.key),
            error=errors.get(conversation_field(q.key), ""),
        )
        for q in questions
        if q.scope == Question.Scope.CONVERSATION
    ]
    return panels, conversation_fields


class ImportForm(forms.Form):
    file = forms.FileField(
        help_text="JSON Lines, a JSON array or one JSON object, optionally gzipped."
    )
    format = forms.ChoiceField(
        required=False,
        choices=[("", "Detect from the file")] + [(name, name) for name in importers.FORMATS],
    )
