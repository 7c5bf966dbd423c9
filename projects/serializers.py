from rest_framework import serializers

from projects import schemas
from projects.models import (
    MAX_OVERLAP,
    GuidelinesVersion,
    LabelSchema,
    Membership,
    Project,
    Question,
)


class ProjectSerializer(serializers.ModelSerializer):
    role = serializers.SerializerMethodField(help_text="Your role in this project.")

    class Meta:
        model = Project
        fields = [
            "slug",
            "name",
            "description",
            "guidelines",
            "overlap",
            "lease_minutes",
            "assignment_mode",
            "allow_skip",
            "created_at",
            "role",
        ]
        read_only_fields = ["created_at", "role"]
        extra_kwargs = {
            "overlap": {"min_value": 1, "max_value": MAX_OVERLAP},
            # Uniqueness is the service's check, with its own message.
            "slug": {"validators": []},
        }

    def get_role(self, project: Project) -> str | None:
        return getattr(project, "my_role", None)


class ProjectUpdateSerializer(ProjectSerializer):
    class Meta(ProjectSerializer.Meta):
        read_only_fields = ["slug", "created_at", "role"]


class MembershipSerializer(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username")
    role = serializers.ChoiceField(choices=Membership.Role.choices)

    class Meta:
        model = Membership
        fields = ["username", "role", "created_at"]
        read_only_fields = ["created_at"]


class QuestionSerializer(serializers.ModelSerializer):
    class Meta:
        model = Question
        fields = ["key", "prompt", "help", "scope", "roles", "kind", "options", "required"]

    # Rating questions also carry "min" and "max" (see projects.schemas.schema_as_dict).


class LabelSchemaSerializer(serializers.ModelSerializer):
    questions = QuestionSerializer(many=True, read_only=True)

    class Meta:
        model = LabelSchema
        fields = ["version", "questions"]

    def to_representation(self, schema: LabelSchema) -> dict:
        return schemas.schema_as_dict(schema)


class EditableSchemaSerializer(LabelSchemaSerializer):
    """The schema as its editors get it: with the revision to send back with a change."""

    revision = serializers.CharField(
        read_only=True,
        help_text="Send it back with PUT: the save is refused (409) if the schema changed since.",
    )

    class Meta(LabelSchemaSerializer.Meta):
        fields = ["version", "revision", "questions"]

    def to_representation(self, schema: LabelSchema) -> dict:
        data = schemas.schema_as_dict(schema)  # one read for the questions and the revision
        return {**data, "revision": schemas.revision(data)}


class SchemaQuerySerializer(serializers.Serializer):
    version = serializers.IntegerField(
        required=False, min_value=1, help_text="An earlier version; the current one if left out."
    )


class SchemaWriteSerializer(serializers.Serializer):
    # Only the shape: projects.schemas.clean_questions checks each question, with messages
    # that name the question and the field.
    questions = serializers.ListField(
        child=serializers.JSONField(),
        help_text=(
            "The whole list, in order, in the shape GET returns: key, prompt, help, scope "
            '(turn or conversation), roles, kind, options [{"value", "label", "hotkey"}] for '
            "single and multi, min and max for rating, required."
        ),
    )
    revision = serializers.CharField(
        required=False,
        max_length=64,
        help_text="The revision GET gave: if someone saved the schema since, nothing is saved "
        "and the answer is 409. Without it, the save replaces whatever is there.",
    )


class GuidelinesVersionSerializer(serializers.ModelSerializer):
    class Meta:
        model = GuidelinesVersion
        fields = ["version", "created_at", "in_use"]


class GuidelinesSerializer(serializers.Serializer):
    version = serializers.IntegerField(source="guidelines_version")
    text = serializers.CharField(source="guidelines", help_text="Markdown.")
    versions = GuidelinesVersionSerializer(many=True, source="guidelines_versions.all")
