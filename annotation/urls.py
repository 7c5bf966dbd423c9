from django.urls import path

from annotation import views

app_name = "annotation"

urlpatterns = [
    path("", views.home, name="home"),
    path("projects/<slug:slug>/", views.project_detail, name="project"),
    path("projects/<slug:slug>/label/", views.label, name="label"),
    path("tasks/<int:task_id>/save/", views.save, name="save"),
    path("tasks/<int:task_id>/submit/", views.submit, name="submit"),
]
