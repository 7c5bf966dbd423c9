from django.urls import path

from annotation import views

app_name = "annotation"

urlpatterns = [
    path("", views.home, name="home"),
    path("projects/<slug:slug>/", views.project_detail, name="project"),
    path("projects/<slug:slug>/label/", views.label, name="label"),
    path("projects/<slug:slug>/dashboard/", views.dashboard, name="dashboard"),
    path("projects/<slug:slug>/queue/", views.queue_page, name="queue"),
    path("projects/<slug:slug>/queue/preview/", views.queue_preview, name="queue_preview"),
    path("projects/<slug:slug>/queue/assign/", views.assign, name="assign"),
    path("projects/<slug:slug>/imports/", views.import_list, name="imports"),
    path("projects/<slug:slug>/imports/upload/", views.upload, name="upload"),
    path("imports/<int:job_id>/", views.import_detail, name="import"),
    path("assignments/<int:job_id>/", views.assignment_detail, name="assignment"),
    path("tasks/<int:task_id>/save/", views.save, name="save"),
    path("tasks/<int:task_id>/submit/", views.submit, name="submit"),
    path("tasks/<int:task_id>/skip/", views.skip, name="skip"),
    path("tasks/<int:task_id>/release/", views.release, name="release"),
    path("tasks/<int:task_id>/flag/", views.flag, name="flag"),
    path("flags/<int:flag_id>/resolve/", views.resolve_flag, name="resolve_flag"),
]
