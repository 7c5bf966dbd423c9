from django.urls import path
from rest_framework.routers import SimpleRouter

from accounts.api import MeView, ObtainTokenView
from annotation.api import (
    AssignmentDetailView,
    AssignmentListView,
    ConversationListView,
    ExportView,
    FlagListView,
    ImportDetailView,
    ImportListView,
    NextTaskView,
    ProgressView,
    ProjectViewSet,
    ReleaseTaskView,
    ResolveFlagView,
    SkipTaskView,
    TaskAnnotationView,
    TaskFlagView,
    TaskListView,
)
from projects.api import GuidelinesView, MemberListView, SchemaView

router = SimpleRouter()
router.register("projects", ProjectViewSet, basename="project")

urlpatterns = [
    path("auth/token/", ObtainTokenView.as_view(), name="token"),
    path("me/", MeView.as_view(), name="me"),
    path("projects/<slug:slug>/members/", MemberListView.as_view(), name="members"),
    path("projects/<slug:slug>/schema/", SchemaView.as_view(), name="label-schema"),
    path("projects/<slug:slug>/guidelines/", GuidelinesView.as_view(), name="guidelines"),
    path(
        "projects/<slug:slug>/conversations/",
        ConversationListView.as_view(),
        name="conversations",
    ),
    path("projects/<slug:slug>/tasks/", TaskListView.as_view(), name="tasks"),
    path("projects/<slug:slug>/tasks/next/", NextTaskView.as_view(), name="next-task"),
    path("projects/<slug:slug>/assignments/", AssignmentListView.as_view(), name="assignments"),
    path("projects/<slug:slug>/progress/", ProgressView.as_view(), name="progress"),
    path("projects/<slug:slug>/export/", ExportView.as_view(), name="export"),
    path("projects/<slug:slug>/imports/", ImportListView.as_view(), name="imports"),
    path("imports/<int:job_id>/", ImportDetailView.as_view(), name="import"),
    path("tasks/<int:task_id>/annotation/", TaskAnnotationView.as_view(), name="annotation"),
    path("tasks/<int:task_id>/release/", ReleaseTaskView.as_view(), name="release-task"),
    path("tasks/<int:task_id>/skip/", SkipTaskView.as_view(), name="skip-task"),
    path("tasks/<int:task_id>/flags/", TaskFlagView.as_view(), name="flag-task"),
    path("projects/<slug:slug>/flags/", FlagListView.as_view(), name="flags"),
    path("flags/<int:flag_id>/resolve/", ResolveFlagView.as_view(), name="resolve-flag"),
    path("assignments/<int:job_id>/", AssignmentDetailView.as_view(), name="assignment"),
    *router.urls,
]
