from django.contrib import admin

from projects.models import LabelSchema, Membership, Project, Question


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    raw_id_fields = ("user",)


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "overlap", "lease_minutes", "created_at")
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}
    inlines = [MembershipInline]
    raw_id_fields = ("created_by",)


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("project", "user", "role", "created_at")
    list_filter = ("role", "project")
    list_select_related = ("project", "user")
    search_fields = ("user__username", "project__slug")
    raw_id_fields = ("user", "project")


class QuestionInline(admin.StackedInline):
    model = Question
    extra = 0


@admin.register(LabelSchema)
class LabelSchemaAdmin(admin.ModelAdmin):
    list_display = ("project", "version", "created_at")
    list_filter = ("project",)
    inlines = [QuestionInline]


@admin.register(Question)
class QuestionAdmin(admin.ModelAdmin):
    list_display = ("key", "schema", "scope", "kind", "required", "position")
    list_filter = ("scope", "kind", "required")
    list_select_related = ("schema__project",)
    search_fields = ("key", "prompt")
