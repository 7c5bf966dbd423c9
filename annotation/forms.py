"""The workspace's answer form: field names, reading a POST, and the panels to render.

Field names follow the answer paths of `annotation.answers`: `turns.<index>.<key>` and
`conversation.<key>`. The whole form is posted on every change, so a field that is absent
or empty means "not answered".
"""

from dataclasses import dataclass, field
from typing import Any

from django import forms
from django.http import QueryDict

from accounts.models import ExpertiseTag
from annotation import importers
from annotation.models import AssignmentJob, Task, Turn
from projects.models import Membership, Project, Question


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
TASK_LIST_STATUS_CHOICES = [
    ("", "Any status"),
    ("open", "Open"),
    ("escalated", "Escalated"),
    ("assigned", "Assigned"),
    ("in_progress", "In progress"),
    ("submitted", "Submitted"),
    ("skipped", "Skipped"),
    ("expired", "Lease expired"),
    ("released", "Released"),
]


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
        self.members = _members(project)
        self.fields["annotators"].choices = [
            (m.user.username, f"{m.user.username} ({m.get_role_display().lower()})")
            for m in self.members
        ]
        tags = ExpertiseTag.objects.filter(users__memberships__project=project).distinct()
        self.fields["expertise"].choices = [("", "—")] + [(t.name, t.name) for t in tags]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        giving = data.get("action") in (
            AssignmentJob.Action.ASSIGN,
            AssignmentJob.Action.DISTRIBUTE,
        )
        if giving and data.get("annotators") and data.get("expertise"):
            raise forms.ValidationError("Choose annotators or an expertise, not both.")
        return data


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
