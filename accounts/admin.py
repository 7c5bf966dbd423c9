from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from accounts.models import ApiToken, ExpertiseTag, User


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    fieldsets = (*BaseUserAdmin.fieldsets, ("Expertise", {"fields": ("expertise",)}))
    filter_horizontal = ("expertise", "groups", "user_permissions")
    list_display = ("username", "email", "first_name", "last_name", "is_staff", "is_active")


@admin.register(ExpertiseTag)
class ExpertiseTagAdmin(admin.ModelAdmin):
    search_fields = ("name",)


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("user", "name", "prefix", "created_at", "last_used_at")
    list_select_related = ("user",)
    search_fields = ("user__username", "name", "prefix")
    readonly_fields = ("prefix", "key_hash", "created_at", "last_used_at")
    raw_id_fields = ("user",)

    def has_add_permission(self, request) -> bool:
        # A key is shown once, at creation, which only the API and the CLI can do.
        return False
