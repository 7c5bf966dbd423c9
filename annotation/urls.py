from django.urls import path

from annotation import views

app_name = "annotation"

urlpatterns = [
    path("", views.home, name="home"),
    path("projects/<slug:slug>/", views.project_detail, name="project"),
    path("projects/<slug:slug>/label/", views.label, name="label"),
    path("projects/<slug:slug>/imports/", views.import_list, name="imports"),
    path("projects/<slug:slug>/imports/upload/", views.upload, name="upload"),
    path("imports/<int:job_id>/", views.import_detail, name="import"),
    path("tasks/<int:task_id>/save/", views.save, name="save"),
    path("tasks/<int:task_id>/submit/", views.submit, name="submit"),
]
