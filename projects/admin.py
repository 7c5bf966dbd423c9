from django.contrib import admin

from projects.models import GuidelinesVersion, LabelSchema, Membership, Project, Question


class LeadScopedAdmin(admin.ModelAdmin):
    """Staff who are not superusers see only the rows of projects they lead.

    `project_path` is the lookup from the model to its Project ("" for Project itself).
    """

    project_path = "project"

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        prefix = f"{self.project_path}__" if self.project_path else ""
        return queryset.filter(
            **{
                f"{prefix}memberships__user": request.user,
                f"{prefix}memberships__role": Membership.Role.LEAD,
            }
        ).distinct()


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    raw_id_fields = ("user",)


@admin.register(Project)
class ProjectAdmin(LeadScopedAdmin):
    project_path = ""
    list_display = ("name", "slug", "overlap", "lease_minutes", "created_at")
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}
    inlines = [MembershipInline]
    raw_id_fields = ("created_by",)
    # The services keep these in step with the tasks and the guidelines versions (a new
    # overlap adds or drops task slots; changed guidelines may start a version). The admin
    # would only change the column, so they are changed in the app or over the API.
    managed_fields = ("overlap", "assignment_mode", "guidelines")
    versioning_fields = ("guidelines_version", "guidelines_in_use")

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return self.versioning_fields
        return self.managed_fields + self.versioning_fields


@admin.register(Membership)
class MembershipAdmin(LeadScopedAdmin):
    list_display = ("project", "user", "role", "created_at")
    list_filter = ("role", "project")
    list_select_related = ("project", "user")
    search_fields = ("user__username", "project__slug")
    raw_id_fields = ("user", "project")


class ShownOnceInUse:
    """Answers were made under a schema or guidelines version in use: changing it here would
    silently re-interpret them (and the app's caches keep it as it was). The app makes such
    an edit a new version; the admin only shows them. `in_use(obj)` says which are frozen
    (for an inline, `obj` is the parent)."""

    def in_use(self, obj) -> bool:
        return bool(obj and obj.in_use)

    def has_change_permission(self, request, obj=None):
        return not self.in_use(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return not self.in_use(obj) and super().has_delete_permission(request, obj)


class QuestionInline(ShownOnceInUse, admin.StackedInline):
    model = Question
    extra = 0

    def has_add_permission(self, request, obj=None):
        return not self.in_use(obj) and super().has_add_permission(request, obj)


@admin.register(LabelSchema)
class LabelSchemaAdmin(ShownOnceInUse, LeadScopedAdmin):
    list_display = ("project", "version", "in_use", "created_at")
    list_filter = ("project",)
    readonly_fields = ("in_use",)
    inlines = [QuestionInline]


@admin.register(Question)
class QuestionAdmin(ShownOnceInUse, LeadScopedAdmin):
    project_path = "schema__project"
    list_display = ("key", "schema", "scope", "kind", "required", "position")
    list_filter = ("scope", "kind", "required")
    list_select_related = ("schema__project",)
    search_fields = ("key", "prompt")

    def in_use(self, obj) -> bool:
        return bool(obj and obj.schema.in_use)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "schema":  # a question can be added to a draft only
            kwargs["queryset"] = LabelSchema.objects.filter(in_use=False)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(GuidelinesVersion)
class GuidelinesVersionAdmin(ShownOnceInUse, LeadScopedAdmin):
    list_display = ("project", "version", "in_use", "created_at")
    list_filter = ("project",)
    readonly_fields = ("in_use",)
