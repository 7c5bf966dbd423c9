"""Check answers against a label schema.

Paths name each answer the same way everywhere (API errors, the workspace, exports):
`turns.<index>.<question key>` for a turn's answer, `conversation.<question key>` for the
conversation's. An empty answer (None, "", []) means "not answered" and is dropped.
"""

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from projects.models import Question

MAX_TEXT_CHARS = 50_000
_TURN_INDEX = re.compile(r"0|[1-9][0-9]*")


@dataclass(frozen=True)
class TurnRef:
    index: int
    role: str


@dataclass
class CleanAnswers:
    turns: dict[int, dict[str, Any]]
    conversation: dict[str, Any]


def _is_empty(value: Any) -> bool:
    return value is None or value == "" or value == []


def _choices(question: Question) -> str:
    return ", ".join(question.option_values)


MAX_PASSAGES = 20
MAX_PASSAGE_CHARS = 5_000


@dataclass(frozen=True)
class Source:
    """A source document of a conversation (metadata["sources"]): cited by evidence answers."""

    id: str
    title: str
    text: str
    url: str = ""


def conversation_sources(metadata: Any) -> list[Source]:
    """The conversation's sources, in order; only http(s) links are kept.

    The workspace shows these and evidence answers are checked against them, so what an
    annotator sees is exactly what their passages are measured on.
    """
    items = metadata.get("sources") if isinstance(metadata, Mapping) else None
    sources = []
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, Mapping) or item.get("id") is None:
            continue
        url = item.get("url")
        url = url if isinstance(url, str) and url.startswith(("https://", "http://")) else ""
        source_id = str(item["id"])
        text = item.get("text")
        sources.append(
            Source(
                id=source_id,
                title=str(item.get("title") or source_id),
                text=text if isinstance(text, str) else "",
                url=url,
            )
        )
    return sources


def source_texts(sources: Iterable[Source]) -> dict[str, str]:
    """{id: text} of the sources, as check_evidence reads them."""
    return {source.id: source.text for source in sources}


def check_evidence(value: Any, sources: Mapping[str, str]) -> tuple[Any, str | None]:
    """Passages of the sources, each with a verdict: [{"source", "start", "end", "verdict"}].

    The quoted text is taken from the source, never from the request.
    """
    if not sources:
        return None, "this conversation has no source documents to cite"
    if not isinstance(value, list):
        return None, 'expected a list of {"source", "start", "end", "verdict"}'
    if len(value) > MAX_PASSAGES:
        return None, f"at most {MAX_PASSAGES} passages"
    clean = []
    for number, passage in enumerate(value, start=1):
        at = f"passage {number}"
        if not isinstance(passage, Mapping):
            return None, f'{at}: expected {{"source", "start", "end", "verdict"}}'
        source = str(passage.get("source", ""))
        if source not in sources:
            return None, f'{at}: unknown source "{source}" (expected {", ".join(sources)})'
        start, end = passage.get("start"), passage.get("end")
        text = sources[source]
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (start, end)):
            return None, f"{at}: start and end must be character positions"
        if not 0 <= start < end <= len(text):
            return None, f"{at}: {start}-{end} is outside the source (0-{len(text)})"
        if end - start > MAX_PASSAGE_CHARS:
            return None, f"{at}: longer than {MAX_PASSAGE_CHARS:,} characters"
        verdict = passage.get("verdict")
        if verdict not in Question.EVIDENCE_VERDICTS:
            return None, (
                f"{at}: {_describe(verdict)} is not a verdict "
                f"(expected {', '.join(Question.EVIDENCE_VERDICTS)})"
            )
        clean.append(
            {
                "source": source,
                "start": start,
                "end": end,
                "verdict": verdict,
                "quote": text[start:end],
            }
        )
    return clean, None


def check_value(
    question: Question, value: Any, sources: Mapping[str, str] | None = None
) -> tuple[Any, str | None]:
    """Return (clean value, None) or (None, what is wrong) for one answer."""
    kind = question.kind
    if kind == Question.Kind.EVIDENCE:
        return check_evidence(value, sources or {})
    if kind == Question.Kind.SINGLE:
        if not isinstance(value, str) or value not in question.option_values:
            return (
                None,
                f"{_describe(value)} is not an option (expected one of {_choices(question)})",
            )
        return value, None
    if kind == Question.Kind.MULTI:
        if not isinstance(value, list):
            return None, f"expected a list of options, got {_describe(value)}"
        unknown = [v for v in value if not isinstance(v, str) or v not in question.option_values]
        if unknown:
            return None, (
                f"{', '.join(_describe(v) for v in unknown)} "
                f"{'is not an option' if len(unknown) == 1 else 'are not options'} "
                f"(expected some of {_choices(question)})"
            )
        # Keep the schema's order and drop repeats, so equal answers compare equal.
        chosen = set(value)
        return [v for v in question.option_values if v in chosen], None
    if kind == Question.Kind.BOOLEAN:
        if not isinstance(value, bool):
            return None, f"expected true or false, got {_describe(value)}"
        return value, None
    if kind == Question.Kind.RATING:
        if isinstance(value, bool) or not isinstance(value, int):
            return (
                None,
                f"expected a whole number from {question.rating_min} to "
                f"{question.rating_max}, got {_describe(value)}",
            )
        if not question.rating_min <= value <= question.rating_max:
            return None, f"{value} is out of range ({question.rating_min} to {question.rating_max})"
        return value, None
    # text and rewrite
    if not isinstance(value, str):
        return None, f"expected text, got {_describe(value)}"
    if len(value) > MAX_TEXT_CHARS:
        return None, f"text is too long ({len(value)} characters, at most {MAX_TEXT_CHARS})"
    return value, None


def _describe(value: Any) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return "a list" if isinstance(value, list) else "an object"
    return str(value)


def clean_answers(
    questions: Iterable[Question],
    turns: Iterable[TurnRef],
    turn_payload: Mapping[str, Any],
    conversation_payload: Mapping[str, Any],
    sources: Mapping[str, str] | None = None,
) -> tuple[CleanAnswers, dict[str, str]]:
    """Check every answer; return the clean answers and {path: error} for the bad ones."""
    by_key = {q.key: q for q in questions}
    roles = {t.index: t.role for t in turns}
    errors: dict[str, str] = {}
    clean = CleanAnswers(turns={}, conversation={})

    if not isinstance(turn_payload, Mapping):
        errors["turns"] = 'expected an object like {"<turn index>": {"<question>": value}}'
        turn_payload = {}
    if not isinstance(conversation_payload, Mapping):
        errors["conversation"] = 'expected an object like {"<question>": value}'
        conversation_payload = {}

    for raw_index, answers in turn_payload.items():
        path = f"turns.{raw_index}"
        # Exactly one spelling per turn ("2", not "02" or " 2"), so no answer can shadow another.
        if not isinstance(raw_index, str) or not _TURN_INDEX.fullmatch(raw_index):
            errors[path] = f'"{raw_index}" is not a turn index'
            continue
        index = int(raw_index)
        if index not in roles:
            errors[path] = f"this conversation has no turn {raw_index}"
            continue
        if not isinstance(answers, Mapping):
            errors[path] = 'expected an object like {"<question>": value}'
            continue
        for key, value in answers.items():
            question = by_key.get(key)
            if question is None:
                errors[f"{path}.{key}"] = f'unknown question "{key}"'
            elif question.scope != Question.Scope.TURN:
                errors[f"{path}.{key}"] = (
                    "this question is about the whole conversation, not a turn"
                )
            elif not question.applies_to(roles[index]):
                errors[f"{path}.{key}"] = (
                    f"this question is not asked about {roles[index]} turns "
                    f"(only {', '.join(question.roles) or 'none'})"
                )
            elif not _is_empty(value):
                value, problem = check_value(question, value, sources)
                if problem:
                    errors[f"{path}.{key}"] = problem
                else:
                    clean.turns.setdefault(index, {})[key] = value

    for key, value in conversation_payload.items():
        question = by_key.get(key)
        path = f"conversation.{key}"
        if question is None:
            errors[path] = f'unknown question "{key}"'
        elif question.scope != Question.Scope.CONVERSATION:
            errors[path] = "this question is about a turn; answer it under turns.<index>"
        elif not _is_empty(value):
            value, problem = check_value(question, value)
            if problem:
                errors[path] = problem
            else:
                clean.conversation[key] = value

    return clean, errors


def missing_required(
    questions: Iterable[Question], turns: Iterable[TurnRef], answers: CleanAnswers
) -> list[str]:
    """Paths of required questions left unanswered, in reading order."""
    questions = [q for q in questions if q.required]
    missing = [
        f"turns.{turn.index}.{q.key}"
        for turn in sorted(turns, key=lambda t: t.index)
        for q in questions
        if q.applies_to(turn.role) and q.key not in answers.turns.get(turn.index, {})
    ]
    missing += [
        f"conversation.{q.key}"
        for q in questions
        if q.scope == Question.Scope.CONVERSATION and q.key not in answers.conversation
    ]
    return missing
