"""Pages where leads edit the label schema and the guidelines, and members read them."""

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from projects import forms, schemas, services
from projects.access import project_for_lead, project_for_member
from projects.exceptions import Conflict, InvalidInput
from projects.markup import render_markdown
from projects.models import ROLES, GuidelinesVersion, LabelSchema, Membership, Project, Question

Drafts = list[dict[str, Any]]


# --- The label schema ---------------------------------------------------------------------


def _schema_page(
    request: HttpRequest,
    project: Project,
    membership: Membership,
    *,
    drafts: Drafts | None = None,
    error: str = "",
    import_form: forms.SchemaImportForm | None = None,
    status: int = 200,
    revision: str | None = None,
) -> HttpResponse:
    """The schema page; with `drafts` posted back, the `revision` they started from."""
    schema = LabelSchema.objects.current_for(project)
    # The rows and the revision come from one read: a save committed between two reads
    # would pair the old rows with the new revision, and saving them would undo it.
    stored = schemas.schema_as_dict(schema)
    if drafts is None:
        drafts = forms.drafts_from_schema(stored)
    error_draft = forms.mark_error(drafts, error) if error else None
    context = {
        **_editor_context(drafts),
        "project": project,
        "membership": membership,
        "editable": membership.is_lead,
        "schema": schema,
        "questions": schema.questions.all(),
        "revision": revision or schemas.revision(stored),
        "earlier": LabelSchema.objects.filter(project=project)
        .exclude(pk=schema.pk)
        .annotate(question_count=Count("questions")),
        "error": error,
        "error_id": error_draft["id"] if error_draft else "",
        "import_form": import_form or forms.SchemaImportForm(),
    }
    return render(request, "projects/schema.html", context, status=status)


def _editor_context(drafts: Drafts, announcement: str = "") -> dict[str, Any]:
    return {
        "drafts": drafts,
        "kinds": Question.Kind.choices,
        "roles": ROLES,
        "announcement": announcement,
    }


@login_required
@require_GET
def schema_editor(request: HttpRequest, slug: str) -> HttpResponse:
    project, membership = project_for_member(request.user, slug)
    return _schema_page(request, project, membership)


def _saved_message(before: LabelSchema | None, after: LabelSchema) -> str:
    if before is None:
        return f"Saved the schema as v{after.version}."
    if after.version > before.version:
        return (
            f"Labeling already started under v{before.version}, so your change is "
            f"v{after.version}; answers given under v{before.version} keep their questions."
        )
    if before.in_use:
        return f"Nothing changed: the schema is still v{after.version}."
    return f"Saved v{after.version} in place: no one has labeled under it yet."


@login_required
@require_POST
def save_schema(request: HttpRequest, slug: str) -> HttpResponse:
    project, membership = project_for_lead(request.user, slug)
    drafts = forms.drafts_from_post(request.POST)
    before = LabelSchema.objects.current_for(project)
    try:
        schema = services.save_schema(
            project=project,
            actor=request.user,
            questions=forms.questions_from_drafts(drafts),
            # The schema the page was opened with: a save by someone else meanwhile is a
            # conflict, shown with these rows kept (the page then carries the new revision,
            # so saving again replaces the other changes on purpose).
            revision=request.POST.get("revision") or None,
        )
    except InvalidInput as exc:
        return _schema_page(
            request,
            project,
            membership,
            drafts=drafts,
            error=exc.message,
            status=400,
            revision=request.POST.get("revision"),
        )
    except Conflict as exc:
        return _schema_page(
            request, project, membership, drafts=drafts, error=exc.message, status=409
        )
    messages.success(request, _saved_message(before, schema))
    return redirect("projects:schema", slug=project.slug)


# Helpers of the editor: each takes the posted rows, changes them, and shows the rows again
# (the fragment for htmx, the whole page without it). Nothing is saved until "Save".

Edit = Callable[[Drafts, HttpRequest], str]


def _edit_rows(request: HttpRequest, slug: str, edit: Edit) -> HttpResponse:
    project, membership = project_for_lead(request.user, slug)
    drafts = forms.drafts_from_post(request.POST)
    try:
        announcement = edit(drafts, request)
    except LookupError:
        announcement, status = "That row is no longer on the page.", 400
    else:
        status = 200
    if not request.htmx:
        return _schema_page(
            request,
            project,
            membership,
            drafts=drafts,
            status=status,
            revision=request.POST.get("revision"),
        )
    context = {**_editor_context(drafts, announcement), "project": project}
    return render(request, "projects/schema.html#schema-questions", context, status=status)


def _row(drafts: Drafts, row_id: str) -> int:
    for index, draft in enumerate(drafts):
        if draft["id"] == row_id:
            return index
    raise LookupError(row_id)


def _add_question(drafts: Drafts, request: HttpRequest) -> str:
    if len(drafts) >= schemas.MAX_QUESTIONS:
        return f"A schema holds at most {schemas.MAX_QUESTIONS} questions."
    drafts.append({**forms.new_question(), "focus": "key"})
    return f"Added question {len(drafts)}."


def _add_option(drafts: Drafts, request: HttpRequest) -> str:
    draft = drafts[_row(drafts, request.POST.get("row", ""))]
    if len(draft["options"]) >= schemas.MAX_OPTIONS:
        return f"A question has at most {schemas.MAX_OPTIONS} options."
    draft["options"].append({**forms.new_option(), "focus": True})
    return f"Added option {len(draft['options'])}."


def _swap(rows: list[dict[str, Any]], index: int, step: int, what: str) -> str:
    """Move rows[index] one place up (step -1) or down, and say so; `what` names it
    ("question 2"). The focus stays on the button pressed, on the row it moved with."""
    target = index + step
    rows[index]["focus"] = "up" if step < 0 else "down"
    if not 0 <= target < len(rows):
        return f"{what.capitalize()} is already {'first' if step < 0 else 'last'}."
    rows[index], rows[target] = rows[target], rows[index]
    return f"Moved {what} to position {target + 1}."


def _move_question(step: int) -> Edit:
    def move(drafts: Drafts, request: HttpRequest) -> str:
        index = _row(drafts, request.POST.get("row", ""))
        return _swap(drafts, index, step, f"question {index + 1}")

    return move


def _remove_question(drafts: Drafts, request: HttpRequest) -> str:
    index = _row(drafts, request.POST.get("row", ""))
    del drafts[index]
    if drafts:
        drafts[min(index, len(drafts) - 1)]["focus"] = "key"
    return f"Removed question {index + 1}."


def _option(drafts: Drafts, request: HttpRequest) -> tuple[dict[str, Any], int]:
    """The question row and the index of the option a button names ("<row>-<option>")."""
    row_id, _, option_id = request.POST.get("option", "").partition("-")
    draft = drafts[_row(drafts, row_id)]
    index = next((i for i, o in enumerate(draft["options"]) if o["id"] == option_id), None)
    if index is None:
        raise LookupError(option_id)
    return draft, index


def _move_option(step: int) -> Edit:
    def move(drafts: Drafts, request: HttpRequest) -> str:
        draft, index = _option(drafts, request)
        what = f"option {index + 1} of question {drafts.index(draft) + 1}"
        return _swap(draft["options"], index, step, what)

    return move


def _remove_option(drafts: Drafts, request: HttpRequest) -> str:
    draft, index = _option(drafts, request)
    options = draft["options"]
    del options[index]
    if options:
        options[min(index, len(options) - 1)]["focus"] = True
    else:
        draft["focus"] = "add-option"
    return f"Removed option {index + 1} of question {drafts.index(draft) + 1}."


@login_required
@require_POST
def add_question(request: HttpRequest, slug: str) -> HttpResponse:
    return _edit_rows(request, slug, _add_question)


@login_required
@require_POST
def add_option(request: HttpRequest, slug: str) -> HttpResponse:
    return _edit_rows(request, slug, _add_option)


@login_required
@require_POST
def move_question(request: HttpRequest, slug: str, step: int) -> HttpResponse:
    return _edit_rows(request, slug, _move_question(step))


@login_required
@require_POST
def move_option(request: HttpRequest, slug: str, step: int) -> HttpResponse:
    return _edit_rows(request, slug, _move_option(step))


@login_required
@require_POST
def remove_question(request: HttpRequest, slug: str) -> HttpResponse:
    return _edit_rows(request, slug, _remove_question)


@login_required
@require_POST
def remove_option(request: HttpRequest, slug: str) -> HttpResponse:
    return _edit_rows(request, slug, _remove_option)


def _schema_version(project: Project, version: int | str | None) -> LabelSchema:
    """The schema version a URL names (the current one when none is given), or 404."""
    text = "" if version is None else str(version)
    schema = (
        LabelSchema.objects.version_for(project, int(text) if text else None)
        if text.isdigit() or not text
        else None
    )
    if schema is None:
        raise Http404("No such schema version.")
    return schema


@login_required
@require_GET
def export_schema(request: HttpRequest, slug: str) -> HttpResponse:
    project, _ = project_for_member(request.user, slug)
    schema = _schema_version(project, request.GET.get("version"))
    response = JsonResponse(
        schemas.schema_as_dict(schema), json_dumps_params={"indent": 2, "ensure_ascii": False}
    )
    filename = f"{project.slug}-schema-v{schema.version}.json"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@login_required
@require_POST
def import_schema(request: HttpRequest, slug: str) -> HttpResponse:
    project, membership = project_for_lead(request.user, slug)
    form = forms.SchemaImportForm(request.POST, request.FILES)
    if not form.is_valid():
        return _schema_page(request, project, membership, import_form=form, status=400)
    before = LabelSchema.objects.current_for(project)
    try:
        schema = services.save_schema(
            project=project, actor=request.user, questions=form.cleaned_data["questions"]
        )
    except InvalidInput as exc:
        form.add_error(None, exc.message)
        return _schema_page(request, project, membership, import_form=form, status=400)
    messages.success(request, f"Imported the JSON. {_saved_message(before, schema)}")
    return redirect("projects:schema", slug=project.slug)


@login_required
@require_GET
def schema_version(request: HttpRequest, slug: str, version: int) -> HttpResponse:
    project, membership = project_for_member(request.user, slug)
    schema = _schema_version(project, version)
    context = {
        "project": project,
        "membership": membership,
        "schema": schema,
        "questions": schema.questions.all(),
        "is_current": schema == LabelSchema.objects.current_for(project),
    }
    return render(request, "projects/schema_version.html", context)


# --- Guidelines ---------------------------------------------------------------------------


def _guidelines_page(
    request: HttpRequest,
    project: Project,
    membership: Membership,
    *,
    form: forms.GuidelinesForm | None = None,
    status: int = 200,
) -> HttpResponse:
    versions = list(project.guidelines_versions.all())
    current = next((v for v in versions if v.version == project.guidelines_version), None)
    if form is None:
        form = forms.GuidelinesForm(initial={"text": project.guidelines})
    text = form.cleaned_data["text"] if form.is_bound and form.is_valid() else project.guidelines
    context = {
        "project": project,
        "membership": membership,
        "editable": membership.is_lead,
        "form": form,
        "preview": render_markdown(text),
        "versions": versions,
        "in_use": current is not None and current.in_use,
    }
    return render(request, "projects/guidelines.html", context, status=status)


@login_required
@require_GET
def guidelines(request: HttpRequest, slug: str) -> HttpResponse:
    project, membership = project_for_member(request.user, slug)
    return _guidelines_page(request, project, membership)


@login_required
@require_POST
def preview_guidelines(request: HttpRequest, slug: str) -> HttpResponse:
    project, membership = project_for_lead(request.user, slug)
    form = forms.GuidelinesForm(request.POST)
    status = 200 if form.is_valid() else 400
    if not request.htmx:
        return _guidelines_page(request, project, membership, form=form, status=status)
    context = {"form": form, "preview": render_markdown(form.cleaned_data.get("text", ""))}
    return render(request, "projects/guidelines.html#guidelines-preview", context, status=status)


@login_required
@require_POST
def save_guidelines(request: HttpRequest, slug: str) -> HttpResponse:
    project, membership = project_for_lead(request.user, slug)
    form = forms.GuidelinesForm(request.POST)
    if not form.is_valid():
        return _guidelines_page(request, project, membership, form=form, status=400)
    before = project.guidelines_version
    unchanged = form.cleaned_data["text"] == project.guidelines
    project = services.update_project(
        project=project, actor=request.user, guidelines=form.cleaned_data["text"]
    )
    if unchanged:
        message = f"Nothing changed: the guidelines are still v{before}."
    elif project.guidelines_version > before:
        message = (
            f"Labeling already started under v{before}, so the guidelines are now "
            f"v{project.guidelines_version}; annotations made under v{before} keep pointing at it."
        )
    else:
        message = f"Saved v{before} in place: no one has labeled under it yet."
    messages.success(request, message)
    return redirect("projects:guidelines", slug=project.slug)


@login_required
@require_GET
def guidelines_version(request: HttpRequest, slug: str, version: int) -> HttpResponse:
    project, membership = project_for_member(request.user, slug)
    version_ = get_object_or_404(GuidelinesVersion, project=project, version=version)
    context = {
        "project": project,
        "membership": membership,
        "version": version_,
        "is_current": version_.version == project.guidelines_version,
    }
    return render(request, "projects/guidelines_version.html", context)
