from rest_framework import serializers

from annotation import importers, services
from annotation.models import Annotation, Conversation, ImportJob, Task, Turn
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
