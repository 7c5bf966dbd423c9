from django.urls import path
from rest_framework.routers import SimpleRouter

from accounts.api import ObtainTokenView
from annotation.api import (
    ConversationListView,
    ExportView,
    ImportDetailView,
    ImportListView,
    NextTaskView,
    TaskAnnotationView,
)
from projects.api import MemberListView, ProjectViewSet

router = SimpleRouter()
router.register("projects", ProjectViewSet, basename="project")

urlpatterns = [
    path("auth/token/", ObtainTokenView.as_view(), name="token"),
    path("projects/<slug:slug>/members/", MemberListView.as_view(), name="members"),
    path(
        "projects/<slug:slug>/conversations/",
        ConversationListView.as_view(),
        name="conversations",
    ),
    path("projects/<slug:slug>/tasks/next/", NextTaskView.as_view(), name="next-task"),
    path("projects/<slug:slug>/export/", ExportView.as_view(), name="export"),
    path("projects/<slug:slug>/imports/", ImportListView.as_view(), name="imports"),
    path("imports/<int:job_id>/", ImportDetailView.as_view(), name="import"),
    path("tasks/<int:task_id>/annotation/", TaskAnnotationView.as_view(), name="annotation"),
    *router.urls,
]
