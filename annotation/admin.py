from django.contrib import admin

from annotation.models import (
    Annotation,
    AssignmentJob,
    Conversation,
    Flag,
    ImportJob,
    Task,
    TaskCount,
    Turn,
    TurnAnswer,
)
from projects.admin import LeadScopedAdmin


class TurnInline(admin.StackedInline):
    model = Turn
    extra = 0
    fields = ("index", "role", "text", "metadata")


@admin.register(Conversation)
class ConversationAdmin(LeadScopedAdmin):
    list_display = ("external_id", "project", "turn_count", "created_at")
    list_filter = ("project",)
    list_select_related = ("project",)
    search_fields = ("external_id",)
    readonly_fields = ("content_hash",)
    inlines = [TurnInline]
    show_full_result_count = False


@admin.register(Turn)
class TurnAdmin(LeadScopedAdmin):
    project_path = "conversation__project"
    list_display = ("conversation", "index", "role")
    list_filter = ("role",)
    list_select_related = ("conversation",)
    search_fields = ("conversation__external_id",)
    raw_id_fields = ("conversation",)
    show_full_result_count = False


@admin.register(Task)
class TaskAdmin(LeadScopedAdmin):
    list_display = (
        "id",
        "project",
        "conversation",
        "status",
        "assignee",
        "priority",
        "lease_expires_at",
    )
    list_filter = ("status", "project")
    list_select_related = ("project", "conversation", "assignee")
    search_fields = ("conversation__external_id", "assignee__username")
    raw_id_fields = ("conversation", "assignee", "project")
    show_full_result_count = False


class ShownOnly:
    """Experts' answers change only through the app's save (annotation.services), which
    locks the task and moves the version: an edit here would be silently overwritten by the
    annotator's next autosave, or lose theirs. The admin shows them; deleting stays possible,
    as deleting their conversation or project must."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class TurnAnswerInline(ShownOnly, admin.TabularInline):
    model = TurnAnswer
    extra = 0
    raw_id_fields = ("turn",)


@admin.register(Annotation)
class AnnotationAdmin(ShownOnly, LeadScopedAdmin):
    project_path = "task__project"
    list_display = ("id", "task", "annotator", "status", "version", "updated_at", "submitted_at")
    list_filter = ("status",)
    list_select_related = ("task", "annotator")
    search_fields = ("annotator__username", "task__conversation__external_id")
    raw_id_fields = ("task", "annotator", "schema")
    inlines = [TurnAnswerInline]
    show_full_result_count = False


@admin.register(TurnAnswer)
class TurnAnswerAdmin(ShownOnly, LeadScopedAdmin):
    project_path = "annotation__task__project"
    list_display = ("annotation", "turn")
    list_select_related = ("annotation", "turn")
    raw_id_fields = ("annotation", "turn")
    show_full_result_count = False


@admin.register(ImportJob)
class ImportJobAdmin(LeadScopedAdmin):
    list_display = ("id", "filename", "project", "status", "format", "conversations", "created_at")
    list_filter = ("status", "format")
    list_select_related = ("project",)
    search_fields = ("filename",)
    raw_id_fields = ("project", "created_by")
    readonly_fields = ("errors", "processed", "total", "attempts", "started_at", "finished_at")
    show_full_result_count = False


@admin.register(AssignmentJob)
class AssignmentJobAdmin(LeadScopedAdmin):
    list_display = ("id", "project", "action", "status", "changed", "skipped", "created_at")
    list_filter = ("action", "status")
    list_select_related = ("project",)
    raw_id_fields = ("project", "created_by", "expertise")
    filter_horizontal = ("annotators",)
    readonly_fields = ("processed", "total", "changed", "skipped", "finished_at")


@admin.register(TaskCount)
class TaskCountAdmin(LeadScopedAdmin):
    """Maintained counts; `manage.py recount_tasks` rebuilds them if ever in doubt."""

    list_display = ("project", "bucket", "shard", "count")
    list_filter = ("bucket",)
    list_select_related = ("project",)

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(Flag)
class FlagAdmin(LeadScopedAdmin):
    list_display = ("conversation", "kind", "raised_by", "created_at", "resolved_at")
    list_filter = ("kind", ("resolved_at", admin.EmptyFieldListFilter))
    list_select_related = ("conversation", "raised_by")
    raw_id_fields = ("project", "conversation", "raised_by", "resolved_by")
