"""The workspace's answer form: field names, reading a POST, and the panels to render.

Field names follow the answer paths of `annotation.answers`: `turns.<index>.<key>` and
`conversation.<key>`. The whole form is posted on every change, so a field that is absent
or empty means "not answered". An evidence answer is one hidden field holding JSON, and a
rewrite that still equals the turn's text is not an answer: the textarea starts from it.
"""

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django import forms
from django.http import QueryDict

from accounts.models import ExpertiseTag
from annotation import importers
from annotation.answers import Source
from annotation.models import BUCKET_LABELS, AssignmentJob, Flag, Task, Turn
from projects.models import Membership, Project, Question


def turn_field(index: int, key: str) -> str:
    return f"turns.{index}.{key}"


def conversation_field(key: str) -> str:
    return f"conversation.{key}"


def _same_text(a: str, b: str) -> bool:
    # Browsers post a textarea's line breaks as CRLF whatever the turn's text had.
    def normal(text: str) -> str:
        return text.replace("\r\n", "\n").replace("\r", "\n").strip()

    return normal(a) == normal(b)


def _read(post: QueryDict, name: str, question: Question, original: str | None = None) -> Any:
    if question.kind == Question.Kind.MULTI:
        return post.getlist(name)
    raw = post.get(name, "")
    if question.kind == Question.Kind.TEXT:
        return raw if raw.strip() else ""
    if question.kind == Question.Kind.REWRITE:
        if not raw.strip() or (original is not None and _same_text(raw, original)):
            return ""
        return raw
    raw = raw.strip()
    if raw == "":
        return None
    if question.kind == Question.Kind.EVIDENCE:
        try:
            return json.loads(raw)
        except ValueError:
            return raw  # left for the answer rules to report
    if question.kind == Question.Kind.BOOLEAN:
        return {"true": True, "false": False}.get(raw, raw)
    if question.kind == Question.Kind.RATING:
        try:
            return int(raw)
        except ValueError:
            return raw  # left for the answer rules to report
    return raw


def questions_by_role(questions: list[Question]) -> dict[str, list[Question]]:
    """The turn questions asked about each role, in order: looked up per turn, not
    filtered again for each of a long conversation's turns."""
    asked: dict[str, list[Question]] = {}
    for role in Turn.Role.values:
        asked[role] = [q for q in questions if q.applies_to(role)]
    return asked


def payload_from_post(
    post: QueryDict, questions: list[Question], turns: list[Turn]
) -> dict[str, Any]:
    """Turn a posted workspace form into the API's {"turns": ..., "conversation": ...}.

    `turns` need their index, role and text (a rewrite equal to the text is no answer).
    """
    payload: dict[str, Any] = {"turns": {}, "conversation": {}}
    asked = questions_by_role(questions)
    for turn in turns:
        answers = {
            q.key: _read(post, turn_field(turn.index, q.key), q, original=turn.text)
            for q in asked.get(turn.role, ())
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


LONG_TURN_CHARS = 1_200


def _pretty_json(value: Any) -> str:
    """JSON (or a string holding JSON) indented for reading; other strings as they are."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return value
    return json.dumps(value, indent=2, ensure_ascii=False)


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: str
    id: str = ""


def tool_calls(metadata: Any) -> list[ToolCall]:
    """An assistant turn's calls: OpenAI `tool_calls`, typed parts, or a `function_call`."""
    if not isinstance(metadata, Mapping):
        return []
    calls = metadata.get("tool_calls")
    items = list(calls) if isinstance(calls, list) else []
    if metadata.get("function_call") is not None:
        items.append(metadata["function_call"])
    result = []
    for call in items:
        if not isinstance(call, Mapping):
            result.append(ToolCall(name="call", arguments=_pretty_json(call)))
            continue
        function = call.get("function")
        function = function if isinstance(function, Mapping) else call
        arguments = function.get("arguments", function.get("parameters", {}))
        result.append(
            ToolCall(
                name=str(function.get("name") or "call"),
                arguments=_pretty_json(arguments),
                id=str(call.get("id") or ""),
            )
        )
    return result


@dataclass
class Field:
    question: Question
    name: str
    value: Any
    error: str = ""
    # The turn's text, which a rewrite starts from and is compared with.
    original: str | None = None
    # Source titles by id, to name the passages of an evidence answer.
    source_titles: Mapping[str, str] | None = None

    @property
    def selected(self) -> set[str]:
        if isinstance(self.value, list):
            return {str(v) for v in self.value if not isinstance(v, Mapping)}
        if self.value is None:
            return set()
        return {str(self.value).lower() if isinstance(self.value, bool) else str(self.value)}

    @property
    def dom_id(self) -> str:
        return "q-" + self.name.replace(".", "-")

    @property
    def text(self) -> str:
        """What a text box shows: the answer, or the turn's text for a new rewrite."""
        if isinstance(self.value, str) and self.value:
            return self.value
        if self.question.kind == Question.Kind.REWRITE and self.original is not None:
            return self.original
        return ""

    @property
    def passages(self) -> list[dict[str, Any]]:
        """An evidence answer's passages, each with its source's title."""
        if not isinstance(self.value, list):
            return []
        titles = self.source_titles or {}
        return [
            {**passage, "title": titles.get(passage.get("source"), passage.get("source"))}
            for passage in self.value
            if isinstance(passage, Mapping)
        ]

    @property
    def evidence_json(self) -> str:
        """The hidden input's value: the passages without their quotes (the server adds them)."""
        keys = ("source", "start", "end", "verdict")
        passages = [{key: p.get(key) for key in keys} for p in self.passages]
        return json.dumps(passages, separators=(",", ":")) if passages else ""


@dataclass
class TurnPanel:
    turn: Turn
    fields: list[Field] = field(default_factory=list)

    @property
    def is_long(self) -> bool:
        return len(self.turn.text) > LONG_TURN_CHARS

    @property
    def tool_calls(self) -> list[ToolCall]:
        return tool_calls(self.turn.metadata)

    @property
    def text_is_call(self) -> bool:
        """ShareGPT's function_call turns hold the call itself as their text."""
        return (self.turn.metadata or {}).get("original_role") == "function_call"

    @property
    def tool_name(self) -> str:
        metadata = self.turn.metadata if isinstance(self.turn.metadata, Mapping) else {}
        return str(metadata.get("name") or metadata.get("tool_call_id") or "")

    @property
    def tool_result(self) -> str | None:
        """A tool turn's text as indented JSON, if it is JSON; None otherwise."""
        text = self.turn.text.strip()
        if self.turn.role != Turn.Role.TOOL or not text.startswith(("{", "[")):
            return None
        try:
            return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
        except ValueError:
            return None


def build_panels(
    questions: list[Question],
    turns: list[Turn],
    answers: dict[str, Any],
    errors: dict[str, str] | None = None,
    sources: list[Source] | None = None,
) -> tuple[list[TurnPanel], list[Field]]:
    """Pair each turn with the questions asked about it, filled with current answers."""
    errors = errors or {}
    titles = {source.id: source.title for source in sources or []}
    turn_answers = answers.get("turns", {})
    asked = questions_by_role(questions)
    panels = []
    for turn in turns:
        current = turn_answers.get(str(turn.index), {})
        fields = []
        for q in asked.get(turn.role, ()):
            name = turn_field(turn.index, q.key)
            fields.append(
                Field(
                    question=q,
                    name=name,
                    value=current.get(q.key),
                    error=errors.get(name, ""),
                    original=turn.text,
                    source_titles=titles,
                )
            )
        panels.append(TurnPanel(turn=turn, fields=fields))
    conversation_fields = [
        Field(
            question=q,
            name=conversation_field(q.key),
            value=answers.get("conversation", {}).get(q.key),
            error=errors.get(conversation_field(q.key), ""),
            source_titles=titles,
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


# --- The labeling queue -----------------------------------------------------------------

FILTER_STATUS_CHOICES = [
    ("", "Any"),
    ("open", "Open in the pool"),
    ("escalated", "Escalated to an expertise"),
    ("assigned", "Assigned"),
    ("in_progress", "In progress"),
    ("submitted", "Submitted"),
    ("skipped", "Skipped"),
]
LABELED_CHOICES = [("", "Any"), ("yes", "Labeled"), ("no", "Not labeled yet")]
TASK_LIST_STATUS_CHOICES = [("", "Any status"), *BUCKET_LABELS.items()]


def _members(project: Project) -> list[Membership]:
    return list(project.memberships.select_related("user").order_by("user__username"))


class QueueFilterForm(forms.Form):
    """Which of the project's conversations a lead's action applies to."""

    import_job = forms.TypedChoiceField(
        required=False, coerce=int, empty_value=None, label="Import batch"
    )
    metadata_key = forms.CharField(required=False, max_length=100, label="Metadata key")
    metadata_value = forms.CharField(required=False, max_length=200, label="Value")
    tag = forms.CharField(required=False, max_length=100)
    status = forms.ChoiceField(
        required=False, choices=FILTER_STATUS_CHOICES, label="Has a task that is"
    )
    labeled = forms.ChoiceField(required=False, choices=LABELED_CHOICES)

    def __init__(self, *args: Any, project: Project, **kwargs: Any):
        super().__init__(*args, **kwargs)
        jobs = project.import_jobs.order_by("-created_at", "-id")[:100]
        self.fields["import_job"].choices = [("", "All imports")] + [
            (job.pk, f"{job.filename} ({job.created_at:%Y-%m-%d}, {job.conversations})")
            for job in jobs
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        key, value = data.get("metadata_key", "").strip(), data.get("metadata_value", "")
        if bool(key) != bool(value.strip()):
            raise forms.ValidationError("Give both a metadata key and the value it should have.")
        data["metadata_key"] = key
        return data

    def filters(self) -> dict[str, Any]:
        """The cleaned form as a queue filter (see queue.filter_conversations)."""
        data = self.cleaned_data
        filters: dict[str, Any] = {}
        if data.get("import_job"):
            filters["import_job"] = data["import_job"]
        if data.get("metadata_key"):
            filters["metadata"] = {data["metadata_key"]: data["metadata_value"]}
        for name in ("tag", "status", "labeled"):
            if data.get(name):
                filters[name] = data[name].strip()
        return filters


class AssignmentForm(forms.Form):
    """What to do with the filtered conversations: the shape only, the queue checks the rest."""

    action = forms.ChoiceField(
        choices=AssignmentJob.Action.choices,
        initial=AssignmentJob.Action.DISTRIBUTE,
        widget=forms.RadioSelect,
    )
    annotators = forms.MultipleChoiceField(required=False)
    expertise = forms.ChoiceField(required=False, label="Everyone with the expertise")
    priority = forms.IntegerField(required=False)  # the queue checks its range

    def __init__(self, *args: Any, project: Project, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["annotators"].choices = [
            (m.user.username, f"{m.user.username} ({m.get_role_display().lower()})")
            for m in _members(project)
        ]
        tags = ExpertiseTag.objects.filter(users__memberships__project=project).distinct()
        self.fields["expertise"].choices = [("", "—")] + [(t.name, t.name) for t in tags]


class FlagForm(forms.Form):
    kind = forms.ChoiceField(choices=Flag.Kind.choices, label="What is wrong?")
    note = forms.CharField(required=False, max_length=2000, widget=forms.Textarea)


class SkipForm(forms.Form):
    reason = forms.ChoiceField(choices=Task.SkipReason.choices)
    expertise = forms.CharField(required=False, max_length=50)
    note = forms.CharField(required=False, max_length=2000, widget=forms.Textarea)


class TaskListForm(forms.Form):
    """The queue page's task list: by status and assignee, a page after a task id."""

    task_status = forms.ChoiceField(required=False, choices=TASK_LIST_STATUS_CHOICES)
    assignee = forms.ChoiceField(required=False)
    after = forms.IntegerField(required=False, min_value=0)

    def __init__(self, *args: Any, project: Project, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["assignee"].choices = [("", "Anyone")] + [
            (m.user.username, m.user.username) for m in _members(project)
        ]
