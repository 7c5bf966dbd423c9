from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

ROLES = ("system", "user", "assistant", "tool")
MAX_OVERLAP = 10


class ProjectQuerySet(models.QuerySet):
    def for_user(self, user) -> "ProjectQuerySet":
        """Projects the user is a member of."""
        if not user.is_authenticated:
            return self.none()
        return self.filter(memberships__user=user)


class Project(models.Model):
    class AssignmentMode(models.TextChoices):
        POOL = "pool", "Pool: anyone takes the next open task"
        ASSIGNED = "assigned", "Assigned: only what a lead assigned"
        MIXED = "mixed", "Mixed: assigned work first, then the pool"

    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    guidelines = models.TextField(blank=True, help_text="Markdown, shown to annotators.")
    guidelines_version = models.PositiveIntegerField(
        default=1, help_text="Goes up when guidelines change after labeling started."
    )
    # Whether an annotation was made under this version (then a change is a new version);
    # kept here too so a claim can tell without another query.
    guidelines_in_use = models.BooleanField(default=False)
    overlap = models.PositiveSmallIntegerField(
        default=1,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_OVERLAP)],
        help_text="How many annotators label each conversation.",
    )
    lease_minutes = models.PositiveIntegerField(
        default=60,
        validators=[MinValueValidator(1), MaxValueValidator(24 * 60)],
        help_text="How long a claimed task stays with its annotator without activity.",
    )
    assignment_mode = models.CharField(
        max_length=16, choices=AssignmentMode.choices, default=AssignmentMode.POOL
    )
    allow_skip = models.BooleanField(
        default=True, help_text="Whether annotators may skip a conversation, with a reason."
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ProjectQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(overlap__gte=1, overlap__lte=MAX_OVERLAP), name="project_overlap_range"
            ),
            models.CheckConstraint(
                condition=Q(lease_minutes__gte=1), name="project_lease_positive"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def serves_assigned(self) -> bool:
        return self.assignment_mode != self.AssignmentMode.POOL

    @property
    def serves_pool(self) -> bool:
        return self.assignment_mode != self.AssignmentMode.ASSIGNED


class Membership(models.Model):
    class Role(models.TextChoices):
        LEAD = "lead", "Lead"
        REVIEWER = "reviewer", "Reviewer"
        ANNOTATOR = "annotator", "Annotator"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.ANNOTATOR)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project", "user__username"]
        constraints = [
            models.UniqueConstraint(fields=["project", "user"], name="membership_unique_user"),
            models.CheckConstraint(
                condition=Q(role__in=["lead", "reviewer", "annotator"]),
                name="membership_role_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} ({self.role}) in {self.project}"

    @property
    def is_lead(self) -> bool:
        return self.role == self.Role.LEAD


class LabelSchemaQuerySet(models.QuerySet):
    def current_for(self, project: Project) -> "LabelSchema":
        return self.filter(project=project).order_by("-version").first()

    def version_for(self, project: Project, version: int | None = None) -> "LabelSchema | None":
        """The project's schema `version`, or its current one when no version is given."""
        if version is None:
            return self.current_for(project)
        return self.filter(project=project, version=version).first()


class GuidelinesVersion(models.Model):
    """The text of one version of a project's guidelines (the latest is also on Project)."""

    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="guidelines_versions"
    )
    version = models.PositiveIntegerField()
    text = models.TextField(blank=True)
    # Set once an annotation is made under it: from then on, a change is a new version.
    in_use = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project", "-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "version"], name="guidelines_unique_version"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.project} guidelines v{self.version}"


class LabelSchema(models.Model):
    """One version of a project's questions. Annotations point at the version they used."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="schemas")
    version = models.PositiveIntegerField(default=1)
    # Set once an annotation is made under it: from then on, an edit is a new version.
    in_use = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = LabelSchemaQuerySet.as_manager()

    class Meta:
        ordering = ["project", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["project", "version"], name="schema_unique_version"),
        ]

    def __str__(self) -> str:
        return f"{self.project} schema v{self.version}"


class Question(models.Model):
    class Scope(models.TextChoices):
        TURN = "turn", "Turn"
        CONVERSATION = "conversation", "Conversation"

    class Kind(models.TextChoices):
        SINGLE = "single", "Single choice"
        MULTI = "multi", "Multiple choice"
        BOOLEAN = "boolean", "Yes / no"
        RATING = "rating", "Rating"
        TEXT = "text", "Free text"
        REWRITE = "rewrite", "Rewrite of the turn"
        EVIDENCE = "evidence", "Evidence from the sources"

    CHOICE_KINDS = (Kind.SINGLE, Kind.MULTI)
    EVIDENCE_VERDICTS = ("supported", "unsupported", "contradicted")

    schema = models.ForeignKey(LabelSchema, on_delete=models.CASCADE, related_name="questions")
    position = models.PositiveIntegerField(default=0)
    key = models.SlugField(max_length=64)
    prompt = models.CharField(max_length=300)
    help = models.TextField(blank=True)
    scope = models.CharField(max_length=16, choices=Scope.choices, default=Scope.TURN)
    roles = models.JSONField(
        default=list, blank=True, help_text='Turn roles it applies to, e.g. ["assistant"].'
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    options = models.JSONField(
        default=list, blank=True, help_text='[{"value": ..., "label": ..., "hotkey": ...}]'
    )
    rating_min = models.SmallIntegerField(default=1)
    rating_max = models.SmallIntegerField(default=5)
    required = models.BooleanField(default=False)

    class Meta:
        ordering = ["schema", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["schema", "key"], name="question_unique_key"),
            models.CheckConstraint(
                condition=Q(scope__in=["turn", "conversation"]), name="question_scope_valid"
            ),
            models.CheckConstraint(
                condition=Q(
                    kind__in=["single", "multi", "boolean", "rating", "text", "rewrite", "evidence"]
                ),
                name="question_kind_valid",
            ),
            models.CheckConstraint(
                condition=Q(rating_min__lt=models.F("rating_max")), name="question_rating_range"
            ),
        ]

    def __str__(self) -> str:
        return self.key

    @property
    def option_values(self) -> list[str]:
        return [option["value"] for option in self.options]

    def applies_to(self, role: str) -> bool:
        return self.scope == self.Scope.TURN and role in self.roles
