from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

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
    def open(self) -> "TaskQuerySet":
        return self.filter(status=Task.Status.OPEN, assignee__isnull=True)

    def for_annotator(self, user) -> "TaskQuerySet":
        return self.filter(assignee=user)


class Task(models.Model):
    """One annotation slot: a project wants `overlap` of these per conversation.

    A slot is open until someone claims it. When a lease runs out or its annotator skips,
    the task keeps its annotator (and any draft, for audit) and a fresh open task takes
    its place, so nobody gets the same conversation twice.
    """

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        IN_PROGRESS = "in_progress", "In progress"
        SUBMITTED = "submitted", "Submitted"
        SKIPPED = "skipped", "Skipped"
        EXPIRED = "expired", "Lease expired"

    LIVE_STATUSES = (Status.OPEN, Status.IN_PROGRESS, Status.SUBMITTED)

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
    priority = models.IntegerField(default=0)
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
                condition=Q(status__in=["open", "in_progress", "submitted", "skipped", "expired"]),
                name="task_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(status="open", assignee__isnull=True)
                | (~Q(status="open") & Q(assignee__isnull=False)),
                name="task_assignee_matches_status",
            ),
        ]
        indexes = [
            # The claim query walks only open tasks, in priority order.
            models.Index(
                fields=["project", "-priority", "id"],
                condition=Q(status="open"),
                name="task_open_queue",
            ),
            # Open tasks have no assignee: leaving them out keeps imports and the index lean.
            models.Index(
                fields=["assignee", "status"],
                condition=Q(assignee__isnull=False),
                name="task_assignee_status",
            ),
            models.Index(fields=["project", "status"], name="task_project_status"),
            models.Index(
                fields=["lease_expires_at"],
                condition=Q(status="in_progress"),
                name="task_leased",
            ),
        ]

    def __str__(self) -> str:
        return f"task {self.pk} ({self.status})"

    def lease_is_active(self, now=None) -> bool:
        now = now or timezone.now()
        return (
            self.status == self.Status.IN_PROGRESS
            and self.lease_expires_at is not None
            and self.lease_expires_at > now
        )


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


class ImportJob(models.Model):
    """An uploaded file being imported; the page and the API poll it for progress."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    FINAL_STATUSES = (Status.SUCCEEDED, Status.FAILED)

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="import_jobs")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    file = models.FileField(upload_to="imports/%Y/%m/")
    filename = models.CharField(max_length=255, help_text="The name it was uploaded with.")
    requested_format = models.CharField(max_length=32, blank=True)
    format = models.CharField(max_length=32, blank=True, help_text="As detected or requested.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
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

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINAL_STATUSES
