from django.urls import path

from projects import views

app_name = "projects"

SCHEMA = "projects/<slug:slug>/schema/"
GUIDELINES = "projects/<slug:slug>/guidelines/"

urlpatterns = [
    path(SCHEMA, views.schema_editor, name="schema"),
    path(SCHEMA + "save/", views.save_schema, name="save_schema"),
    path(SCHEMA + "rows/add-question/", views.add_question, name="add_question"),
    path(SCHEMA + "rows/add-option/", views.add_option, name="add_option"),
    path(SCHEMA + "rows/move-up/", views.move_question, {"step": -1}, name="move_up"),
    path(SCHEMA + "rows/move-down/", views.move_question, {"step": 1}, name="move_down"),
    path(SCHEMA + "rows/remove-question/", views.remove_question, name="remove_question"),
    path(SCHEMA + "rows/remove-option/", views.remove_option, name="remove_option"),
    path(SCHEMA + "rows/move-option-up/", views.move_option, {"step": -1}, name="move_option_up"),
    path(
        SCHEMA + "rows/move-option-down/",
        views.move_option,
        {"step": 1},
        name="move_option_down",
    ),
    path(SCHEMA + "export/", views.export_schema, name="export_schema"),
    path(SCHEMA + "import/", views.import_schema, name="import_schema"),
    path(SCHEMA + "v/<int:version>/", views.schema_version, name="schema_version"),
    path(GUIDELINES, views.guidelines, name="guidelines"),
    path(GUIDELINES + "preview/", views.preview_guidelines, name="preview_guidelines"),
    path(GUIDELINES + "save/", views.save_guidelines, name="save_guidelines"),
    path(GUIDELINES + "v/<int:version>/", views.guidelines_version, name="guidelines_version"),
]
