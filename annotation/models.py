from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from accounts.models import ExpertiseTag
from projects.models import ROLES, LabelSchema, Project


class Conversation(models.Model):
    # Indexed by the unique (project, external_id) constraint; a second index would only
    # slow imports down.
    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="conversations", db_index=False
    )
    external_id = models.CharField(
        max_length=255, help_text="The id it was imported with, or one derived from its content."
    )
    content_hash = models.CharField(max_length=64)
    metadata = models.JSONField(default=dict, blank=True)
    turn_count = models.PositiveIntegerField(default=0)
    import_job = models.ForeignKey(
        "ImportJob",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="conversations_imported",
        help_text="The import (batch) it came in with.",
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "external_id"], name="conversation_unique_external_id"
            ),
        ]

    def __str__(self) -> str:
        return self.external_id


class Turn(models.Model):
    class Role(models.TextChoices):
        SYSTEM = "system"
        USER = "user"
        ASSISTANT = "assistant"
        TOOL = "tool"

    # Indexed by the unique (conversation, index) constraint.
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="turns", db_index=False
    )
    index = models.PositiveIntegerField()
    role = models.CharField(max_length=16, choices=Role.choices)
    text = models.TextField(blank=True)
    metadata = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["conversation", "index"]
        constraints = [
            models.UniqueConstraint(fields=["conversation", "index"], name="turn_unique_index"),
            models.CheckConstraint(condition=Q(role__in=ROLES), name="turn_role_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.conversation} #{self.index} ({self.role})"


class TaskQuerySet(models.QuerySet):
    def pool(self) -> "TaskQuerySet":
        """Open tasks anyone may take (not escalated to an expertise)."""
        return self.filter(status=Task.Status.OPEN, required_expertise__isnull=True)

    def escalated(self) -> "TaskQuerySet":
        return self.filter(status=Task.Status.OPEN, required_expertise__isnull=False)

    def in_bucket(self, bucket: str) -> "TaskQuerySet":
        """Tasks counted under a dashboard bucket (see task_bucket): "open" is the pool,
        "escalated" the open tasks waiting for an expert, anything else a status."""
        if bucket == ESCALATED:
            return self.escalated()
        if bucket == Task.Status.OPEN:
            return self.pool()
        return self.filter(status=bucket)

    def for_workspace(self) -> "TaskQuerySet":
        """With what the workspace shows: project, conversation, annotation and its schema."""
        return self.select_related("project", "conversation", "annotation__schema")

    def for_annotator(self, user) -> "TaskQuerySet":
        return self.filter(assignee=user)


class Task(models.Model):
    """One annotation slot: a project wants `overlap` of these per conversation.

    A slot is open until someone claims it, or a lead assigns it to someone. When a lease
    runs out, or its annotator skips or releases it, the task keeps its annotator (and any
    draft, for audit) and a fresh open task takes its place, so nobody gets the same
    conversation twice and no conversation gets more than `overlap` annotations.
    """

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        ASSIGNED = "assigned", "Assigned"
        IN_PROGRESS = "in_progress", "In progress"
        SUBMITTED = "submitted", "Submitted"
        SKIPPED = "skipped", "Skipped"
        EXPIRED = "expired", "Lease expired"
        RELEASED = "released", "Released"

    class SkipReason(models.TextChoices):
        NOT_MY_EXPERTISE = "not_my_expertise", "Not my expertise"
        NEEDS_EXPERT = "needs_expert", "Needs a domain expert"
        UNREADABLE = "unreadable", "Unreadable or broken"
        OTHER = "other", "Other"

    # The statuses that hold one of the conversation's `overlap` slots.
    LIVE_STATUSES = (Status.OPEN, Status.ASSIGNED, Status.IN_PROGRESS, Status.SUBMITTED)

    # Foreign keys are covered by the composite indexes below (leading columns).
    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="tasks", db_index=False
    )
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="tasks", db_index=False
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="tasks",
        db_index=False,
    )
    required_expertise = models.ForeignKey(
        ExpertiseTag,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,  # in the task_escalated index
        help_text="Escalated: only annotators with this expertise get it.",
    )
    priority = models.IntegerField(default=0)
    # Database defaults too: imports write tasks with COPY, naming only the columns they set.
    skip_reason = models.CharField(
        max_length=32, choices=SkipReason.choices, blank=True, default="", db_default=""
    )
    note = models.TextField(blank=True, default="", db_default="")
    assigned_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = TaskQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["conversation", "assignee"], name="task_one_per_annotator"
            ),
            models.CheckConstraint(
                condition=Q(
                    status__in=[
                        "open",
                        "assigned",
                        "in_progress",
                        "submitted",
                        "skipped",
                        "expired",
                        "released",
                    ]
                ),
                name="task_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(status="open", assignee__isnull=True)
                | (~Q(status="open") & Q(assignee__isnull=False)),
                name="task_assignee_matches_status",
            ),
        ]
        indexes = [
            # The claim query walks only open pool tasks, in priority order.
            models.Index(
                fields=["project", "-priority", "id"],
                condition=Q(status="open", required_expertise__isnull=True),
                name="task_pool",
            ),
            models.Index(
                fields=["project", "required_expertise", "-priority", "id"],
                condition=Q(status="open", required_expertise__isnull=False),
                name="task_escalated",
            ),
            # Open tasks have no assignee: leaving them out keeps imports and the index lean.
            models.Index(
                fields=["assignee", "status", "-priority", "id"],
                condition=Q(assignee__isnull=False),
                name="task_assignee_status",
            ),
            # Lists by status, newest work first, paged by id.
            models.Index(fields=["project", "status", "id"], name="task_project_status"),
            models.Index(
                fields=["project", "completed_at"],
                condition=Q(status="submitted"),
                name="task_submitted",
            ),
            models.Index(
                fields=["lease_expires_at"],
                condition=Q(status="in_progress"),
                name="task_leased",
            ),
        ]

    def __str__(self) -> str:
        return f"task {self.pk} ({self.status})"

    @property
    def bucket(self) -> str:
        return task_bucket(self.status, self.required_expertise_id)


ESCALATED = "escalated"
# What the counts and filters sort tasks into: the statuses, with open tasks waiting for an
# expert apart. The live ones hold a conversation's slots (done vs total: submitted vs these).
BUCKETS = (
    Task.Status.OPEN,
    ESCALATED,
    Task.Status.ASSIGNED,
    Task.Status.IN_PROGRESS,
    Task.Status.SUBMITTED,
    Task.Status.SKIPPED,
    Task.Status.EXPIRED,
    Task.Status.RELEASED,
)
LIVE_BUCKETS = (ESCALATED, *Task.LIVE_STATUSES)
BUCKET_LABELS = {bucket: dict(Task.Status.choices).get(bucket, "Escalated") for bucket in BUCKETS}


def task_bucket(status: str, required_expertise_id: int | None) -> str:
    """What a task counts as on the dashboard: its status, or "escalated" while it waits."""
    if status == Task.Status.OPEN and required_expertise_id is not None:
        return ESCALATED
    return status


class TaskCount(models.Model):
    """How many of a project's tasks are in each bucket, kept up to date by the services.

    Spread over a few rows (shards) per bucket, so concurrent claims rarely wait on the same
    row; the dashboard sums them instead of counting a million tasks.
    """

    SHARDS = 8

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    bucket = models.CharField(max_length=16)
    shard = models.PositiveSmallIntegerField()
    count = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["project", "bucket", "shard"], name="task_count_unique_shard"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.project_id} {self.bucket}[{self.shard}] = {self.count}"


class Annotation(models.Model):
    """One annotator's labels for one task; `version` guards against stale writes."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        SUBMITTED = "submitted", "Submitted"

    task = models.OneToOneField(Task, on_delete=models.CASCADE, related_name="annotation")
    annotator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="annotations"
    )
    schema = models.ForeignKey(LabelSchema, on_delete=models.PROTECT, related_name="annotations")
    guidelines_version = models.PositiveIntegerField(
        default=1, help_text="The version of the guidelines it was made under."
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    version = models.PositiveIntegerField(default=1)
    answers = models.JSONField(default=dict, blank=True, help_text="Conversation-level answers.")
    started_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    submitted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["draft", "submitted"]), name="annotation_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(status="draft") | Q(submitted_at__isnull=False),
                name="annotation_submitted_has_time",
            ),
        ]

    def __str__(self) -> str:
        return f"annotation {self.pk} v{self.version} ({self.status})"

    @property
    def seconds_spent(self) -> int:
        end = self.submitted_at or self.updated_at
        return max(0, int((end - self.started_at).total_seconds()))


class TurnAnswer(models.Model):
    """An annotation's answers for one turn, as {question key: value}."""

    annotation = models.ForeignKey(
        Annotation, on_delete=models.CASCADE, related_name="turn_answers"
    )
    turn = models.ForeignKey(Turn, on_delete=models.CASCADE, related_name="answers")
    answers = models.JSONField(default=dict)

    class Meta:
        ordering = ["annotation", "turn__index"]
        constraints = [
            models.UniqueConstraint(fields=["annotation", "turn"], name="turn_answer_unique"),
        ]

    def __str__(self) -> str:
        return f"answers to {self.turn}"


class JobStatus(models.TextChoices):
    """Where a background job (an import, an assignment) is."""

    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class BackgroundJob:
    """What import and assignment jobs share: a JobStatus, and whether it is final."""

    Status = JobStatus

    @property
    def is_finished(self) -> bool:
        return self.status in (JobStatus.SUCCEEDED, JobStatus.FAILED)


class ImportJob(BackgroundJob, models.Model):
    """An uploaded file being imported; the page and the API poll it for progress."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="import_jobs")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    file = models.FileField(upload_to="imports/%Y/%m/", blank=True, help_text="Empty for the CLI.")
    filename = models.CharField(max_length=255, help_text="The name it was uploaded with.")
    requested_format = models.CharField(max_length=32, blank=True)
    format = models.CharField(max_length=32, blank=True, help_text="As detected or requested.")
    status = models.CharField(max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED)
    processed = models.BigIntegerField(default=0, help_text="Bytes of the file read so far.")
    total = models.BigIntegerField(default=0, help_text="Size of the file in bytes.")
    records = models.PositiveIntegerField(default=0)
    conversations = models.PositiveIntegerField(default=0)
    turns = models.PositiveBigIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)
    message = models.TextField(blank=True)
    errors = models.JSONField(default=list, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["queued", "running", "succeeded", "failed"]),
                name="import_job_status_valid",
            ),
        ]
        indexes = [models.Index(fields=["project", "-created_at"], name="import_job_history")]

    def __str__(self) -> str:
        return f"import {self.pk} of {self.filename} ({self.status})"


class AssignmentJob(BackgroundJob, models.Model):
    """A lead's bulk assignment (or distribution) of filtered conversations, run by Celery."""

    class Action(models.TextChoices):
        ASSIGN = "assign", "Assign to these annotators"
        DISTRIBUTE = "distribute", "Distribute evenly"
        UNASSIGN = "unassign", "Unassign"
        PRIORITIZE = "prioritize", "Set priority"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="assignment_jobs")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    action = models.CharField(max_length=16, choices=Action.choices)
    filters = models.JSONField(default=dict, blank=True)
    annotators = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="+")
    expertise = models.ForeignKey(
        ExpertiseTag, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    priority = models.IntegerField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED)
    total = models.PositiveIntegerField(default=0, help_text="Conversations matching the filter.")
    processed = models.PositiveIntegerField(default=0)
    changed = models.PositiveIntegerField(default=0, help_text="Tasks assigned or changed.")
    skipped = models.PositiveIntegerField(default=0, help_text="Conversations left as they were.")
    message = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.action} job {self.pk} ({self.status})"


class Flag(models.Model):
    """An annotator's report that a conversation has a problem (personal data, broken text)."""

    class Kind(models.TextChoices):
        PII = "pii", "Personal data"
        BROKEN = "broken", "Broken or garbled"
        OFFENSIVE = "offensive", "Offensive content"
        OTHER = "other", "Other"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="flags")
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="flags")
    raised_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    note = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(
                fields=["project", "-created_at"],
                condition=Q(resolved_at__isnull=True),
                name="flag_open",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} on {self.conversation_id}"
