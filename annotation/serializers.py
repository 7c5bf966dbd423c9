from rest_framework import serializers

from annotation import importers, queue, services
from annotation.models import (
    Annotation,
    AssignmentJob,
    Conversation,
    Flag,
    ImportJob,
    Task,
    Turn,
)
from projects.serializers import LabelSchemaSerializer


class TurnSerializer(serializers.ModelSerializer):
    class Meta:
        model = Turn
        fields = ["index", "role", "text", "metadata"]


class ConversationSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="external_id", help_text="The conversation's external id.")

    class Meta:
        model = Conversation
        fields = ["id", "metadata", "turn_count", "created_at"]


class ConversationDetailSerializer(ConversationSerializer):
    turns = TurnSerializer(many=True, read_only=True)

    class Meta(ConversationSerializer.Meta):
        fields = [*ConversationSerializer.Meta.fields, "turns"]


class AnnotationSerializer(serializers.ModelSerializer):
    turns = serializers.SerializerMethodField(help_text='{"<turn index>": {"<question>": value}}')
    conversation = serializers.SerializerMethodField(help_text='{"<question>": value}')

    class Meta:
        model = Annotation
        fields = ["version", "status", "turns", "conversation", "updated_at", "submitted_at"]

    def get_turns(self, annotation: Annotation) -> dict:
        return services.annotation_answers(annotation)["turns"]

    def get_conversation(self, annotation: Annotation) -> dict:
        return annotation.answers


class TaskSerializer(serializers.ModelSerializer):
    conversation = ConversationDetailSerializer(read_only=True)
    schema = LabelSchemaSerializer(source="annotation.schema", read_only=True)
    annotation = AnnotationSerializer(read_only=True)

    class Meta:
        model = Task
        fields = ["id", "status", "lease_expires_at", "conversation", "schema", "annotation"]


class AnnotationWriteSerializer(serializers.Serializer):
    version = serializers.IntegerField(
        min_value=1, help_text="The version you last saw; a stale one gets 409."
    )
    turns = serializers.DictField(
        child=serializers.DictField(),
        required=False,
        default=dict,
        help_text='{"<turn index>": {"<question>": value}}; the whole set of answers.',
    )
    conversation = serializers.DictField(required=False, default=dict)
    submit = serializers.BooleanField(required=False, default=False)


class ImportUploadSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="JSON Lines, a JSON array or one JSON object; .gz too.")
    format = serializers.ChoiceField(
        choices=importers.FORMATS,
        required=False,
        allow_blank=True,
        help_text="Skip detection and read the file as this format.",
    )


class ImportJobSerializer(serializers.Serializer):
    """Read-only view of imports.import_job_state()."""

    id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=ImportJob.Status.choices)
    format = serializers.CharField()
    filename = serializers.CharField()
    processed = serializers.IntegerField(help_text="Bytes of the file read so far.")
    total = serializers.IntegerField(help_text="Size of the file in bytes.")
    records = serializers.IntegerField()
    conversations = serializers.IntegerField()
    turns = serializers.IntegerField()
    skipped = serializers.IntegerField()
    message = serializers.CharField()
    errors = serializers.ListField(
        child=serializers.DictField(), help_text='[{"line" or "record", "message"}]'
    )
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)


class TaskItemSerializer(serializers.ModelSerializer):
    """A task as the task list shows it: who holds which conversation, in what state."""

    conversation = serializers.CharField(
        source="conversation.external_id", help_text="The conversation's external id."
    )
    assignee = serializers.SlugRelatedField(
        slug_field="username", read_only=True, help_text="The annotator's username, or null."
    )
    required_expertise = serializers.SlugRelatedField(
        slug_field="name",
        read_only=True,
        help_text="Escalated: only annotators with this expertise get it.",
    )

    class Meta:
        model = Task
        fields = [
            "id",
            "conversation",
            "status",
            "assignee",
            "priority",
            "required_expertise",
            "skip_reason",
            "claimed_at",
            "lease_expires_at",
            "completed_at",
        ]
        read_only_fields = fields


class SkipSerializer(serializers.Serializer):
    reason = serializers.ChoiceField(choices=Task.SkipReason.choices)
    note = serializers.CharField(required=False, allow_blank=True, default="")
    expertise = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        help_text='The expertise the conversation needs (e.g. "insurance"); required for '
        '"needs_expert".',
    )


class FlagRequestSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=Flag.Kind.choices)
    note = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=2000,
        help_text='What is wrong; required for "other".',
    )


class FlagSerializer(serializers.ModelSerializer):
    conversation = serializers.CharField(source="conversation.external_id", read_only=True)
    raised_by = serializers.CharField(source="raised_by.username", read_only=True)
    raised_at = serializers.DateTimeField(source="created_at", read_only=True)
    resolved_by = serializers.CharField(
        source="resolved_by.username", read_only=True, allow_null=True, default=None
    )

    class Meta:
        model = Flag
        fields = [
            "id",
            "conversation",
            "kind",
            "note",
            "raised_by",
            "raised_at",
            "resolved_at",
            "resolved_by",
        ]
        read_only_fields = fields


class AssignmentRequestSerializer(serializers.Serializer):
    """Checks only the body's shape; queue.create_assignment_job checks the rest."""

    action = serializers.ChoiceField(choices=AssignmentJob.Action.choices)
    filter = serializers.DictField(
        required=False,
        default=dict,
        help_text="Which conversations: any of import_job, metadata ({key: value}), tag, "
        'status, labeled ("yes"/"no"), ids (external ids). {} is all of them.',
    )
    annotators = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        default=list,
        help_text="Usernames of project members.",
    )
    expertise = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        help_text="distribute: everyone in the project with this expertise.",
    )
    priority = serializers.IntegerField(
        required=False,
        allow_null=True,
        default=None,
        min_value=queue.PRIORITY_MIN,
        max_value=queue.PRIORITY_MAX,  # Task.priority is a 32-bit integer column
        help_text="Higher goes first.",
    )

    def validate(self, attrs: dict) -> dict:
        # A misspelt key ("filters") would otherwise act on every conversation.
        unknown = set(self.initial_data) - set(self.fields)
        if unknown:
            raise serializers.ValidationError(f"Unknown field: {', '.join(sorted(unknown))}.")
        return attrs


class AssignmentJobSerializer(serializers.ModelSerializer):
    class Meta:
        model = AssignmentJob
        fields = [
            "id",
            "action",
            "status",
            "total",
            "processed",
            "changed",
            "skipped",
            "message",
            "created_at",
            "finished_at",
        ]
        read_only_fields = fields


class JobAcceptedSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()
    url = serializers.URLField(help_text="Poll it for progress.")


class AnnotatorStatsSerializer(serializers.Serializer):
    """One row of queue.annotator_stats()."""

    username = serializers.CharField()
    role = serializers.CharField()
    submitted_today = serializers.IntegerField()
    submitted_week = serializers.IntegerField()
    median_seconds = serializers.IntegerField(
        allow_null=True, help_text="Median time per conversation this week."
    )
    open = serializers.IntegerField(help_text="Assigned and in progress.")


class ProgressSerializer(serializers.Serializer):
    counts = serializers.DictField(
        child=serializers.IntegerField(),
        help_text='Tasks per status; "open" is the pool, "escalated" waits for an expert.',
    )
    annotators = AnnotatorStatsSerializer(many=True)
