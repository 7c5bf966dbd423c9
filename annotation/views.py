from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseLocation, retarget

from annotation import exceptions, forms, imports, queue, services
from annotation.models import Annotation, Task
from projects.access import project_for_member
from projects.models import Membership, Project


def _task_or_404(request: HttpRequest, task_id: int) -> Task:
    try:
        return services.get_task_for_annotator(task_id=task_id, user=request.user)
    except exceptions.NotFound:
        raise Http404("No such task.") from None


def _task_counts(project: Project, user) -> dict[str, int]:
    counts = Task.objects.filter(project=project).aggregate(
        open=Count("id", filter=Q(status=Task.Status.OPEN)),
        in_progress=Count("id", filter=Q(status=Task.Status.IN_PROGRESS)),
        submitted=Count("id", filter=Q(status=Task.Status.SUBMITTED)),
        mine_submitted=Count("id", filter=Q(status=Task.Status.SUBMITTED, assignee=user)),
    )
    counts["conversations"] = project.conversations.count()
    return counts


@login_required
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    memberships = (
        Membership.objects.filter(user=request.user)
        .select_related("project")
        .annotate(
            conversations=Count("project__conversations", distinct=True),
            mine_submitted=Count(
                "project__tasks",
                filter=Q(
                    project__tasks__assignee=request.user,
                    project__tasks__status=Task.Status.SUBMITTED,
                ),
                distinct=True,
            ),
        )
        .order_by("project__name")
    )
    return render(request, "annotation/home.html", {"memberships": memberships})


@login_required
@require_GET
def project_detail(request: HttpRequest, slug: str) -> HttpResponse:
    project, membership = project_for_member(request.user, slug)
    context = {
        "project": project,
        "membership": membership,
        "counts": _task_counts(project, request.user),
    }
    return render(request, "annotation/project_detail.html", context)


def _workspace_context(
    task: Task, *, errors: dict[str, str] | None = None, missing: list[str] | None = None
) -> dict[str, Any]:
    annotation = task.annotation
    questions = list(annotation.schema.questions.all())
    turns = list(task.conversation.turns.order_by("index"))
    panels, conversation_fields = forms.build_panels(
        questions, turns, services.annotation_answers(annotation), errors
    )
    return {
        "project": task.project,
        "task": task,
        "annotation": annotation,
        "panels": panels,
        "conversation_fields": conversation_fields,
        "missing": _describe_paths(missing or [], panels, conversation_fields),
    }


def _describe_paths(paths: list[str], panels, conversation_fields) -> list[dict[str, str]]:
    """Say which answers a path names, in words, with the id of the field to jump to."""
    fields = {f.name: (panel.turn, f) for panel in panels for f in panel.fields}
    fields.update({f.name: (None, f) for f in conversation_fields})
    described = []
    for path in paths:
        turn, field = fields.get(path, (None, None))
        if field is None:
            continue
        where = f"Turn {turn.index + 1} ({turn.role})" if turn else "Conversation"
        described.append({"where": where, "prompt": field.question.prompt, "id": field.dom_id})
    return described


@login_required
@require_GET
def label(request: HttpRequest, slug: str) -> HttpResponse:
    project, _ = project_for_member(request.user, slug)
    task = queue.claim_next_task(project=project, user=request.user)
    if task is None:
        return render(request, "annotation/no_task.html", {"project": project})
    task = _task_or_404(request, task.pk)
    return render(request, "annotation/workspace.html", _workspace_context(task))


def _posted_version(request: HttpRequest) -> int:
    try:
        return int(request.POST.get("version", ""))
    except ValueError:
        return 0


def _save(request: HttpRequest, task: Task, *, submit: bool) -> Annotation:
    questions = list(task.annotation.schema.questions.all())
    turns = list(task.conversation.turns.only("index", "role"))
    payload = forms.payload_from_post(request.POST, questions, turns)
    return services.save_annotation(
        task=task,
        user=request.user,
        version=_posted_version(request),
        turns=payload["turns"],
        conversation=payload["conversation"],
        submit=submit,
    )


@login_required
@require_POST
def save(request: HttpRequest, task_id: int) -> HttpResponse:
    task = _task_or_404(request, task_id)
    context: dict[str, Any] = {"task": task}
    status = 200
    try:
        context["annotation"] = _save(request, task, submit=False)
    except exceptions.ServiceError as exc:
        context.update(annotation=task.annotation, error=exc)
        status = 409 if isinstance(exc, exceptions.Conflict) else 400
    if not request.htmx:
        return redirect("annotation:label", slug=task.project.slug)
    return render(request, "annotation/workspace.html#save-status", context, status=status)


@login_required
@require_POST
def submit(request: HttpRequest, task_id: int) -> HttpResponse:
    task = _task_or_404(request, task_id)
    try:
        _save(request, task, submit=True)
    except exceptions.ServiceError as exc:
        missing = exc.missing if isinstance(exc, exceptions.MissingRequired) else None
        context = _workspace_context(task, missing=missing)
        context["error"] = None if missing else exc
        status = 409 if isinstance(exc, exceptions.Conflict) else 400
        if not request.htmx:
            return render(request, "annotation/workspace.html", context, status=status)
        if missing:
            return render(request, "annotation/workspace.html#submit-errors", context, status=400)
        response = render(request, "annotation/workspace.html#save-status", context, status=status)
        return retarget(response, "#save-status")
    next_url = reverse("annotation:label", args=[task.project.slug])
    if request.htmx:
        return HttpResponseLocation(next_url, target="body")
    return redirect(next_url)


def _lead_project(request: HttpRequest, slug: str) -> Project:
    project, membership = project_for_member(request.user, slug)
    if not membership.is_lead:
        raise PermissionDenied("Only a project lead can import conversations.")
    return project


def _imports_page(request, project: Project, form: forms.ImportForm, status: int = 200):
    jobs = project.import_jobs.select_related("created_by")[:50]
    context = {"project": project, "form": form, "jobs": jobs}
    return render(request, "annotation/imports.html", context, status=status)


@login_required
@require_GET
def import_list(request: HttpRequest, slug: str) -> HttpResponse:
    return _imports_page(request, _lead_project(request, slug), forms.ImportForm())


@login_required
@require_POST
def upload(request: HttpRequest, slug: str) -> HttpResponse:
    project = _lead_project(request, slug)
    form = forms.ImportForm(request.POST, request.FILES)
    if not form.is_valid():
        return _imports_page(request, project, form, status=400)
    try:
        job = imports.create_import_job(
            project=project,
            user=request.user,
            upload=form.cleaned_data["file"],
            format=form.cleaned_data["format"] or None,
        )
    except exceptions.ServiceError as exc:
        form.add_error("file", exc.message)
        return _imports_page(request, project, form, status=400)
    return redirect("annotation:import", job_id=job.pk)


@login_required
@require_GET
def import_detail(request: HttpRequest, job_id: int) -> HttpResponse:
    try:
        job = imports.get_import_job(job_id=job_id, user=request.user)
    except exceptions.NotFound:
        raise Http404("No such import.") from None
    state = imports.import_job_state(job)
    state["percent"] = int(100 * state["processed"] / state["total"]) if state["total"] else 0
    template = "annotation/import_detail.html"
    if request.htmx:
        template += "#import-progress"
    return render(request, template, {"job": job, "state": state, "project": job.project})
