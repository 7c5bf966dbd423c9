from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseLocation, retarget

from accounts import services as account_services
from annotation import answers as answer_rules
from annotation import exceptions, forms, imports, queue, services
from annotation.models import Annotation, AssignmentJob, Flag, Task
from projects import cache as schema_cache
from projects.access import project_for_lead, project_for_member
from projects.models import Project, Question


def _task_or_404(request: HttpRequest, task_id: int) -> Task:
    task = services.get_task_for_annotator(task_id=task_id, user=request.user)
    task.assignee = request.user  # it is theirs: no query to load it again
    return task


@login_required
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    memberships = queue.my_projects(request.user)
    return render(request, "annotation/home.html", {"memberships": memberships})


@login_required
@require_GET
def project_detail(request: HttpRequest, slug: str) -> HttpResponse:
    project, membership = project_for_member(request.user, slug)
    context = {
        "project": project,
        "membership": membership,
        "counts": queue.member_counts(project, request.user),
    }
    return render(request, "annotation/project_detail.html", context)


def _workspace_context(
    task: Task,
    *,
    errors: dict[str, str] | None = None,
    missing: list[str] | None = None,
    skip_form: forms.SkipForm | None = None,
    flag_form: forms.FlagForm | None = None,
) -> dict[str, Any]:
    # A constant number of queries whatever the length of the conversation (see
    # tests/annotation/views/test_workspace_queries.py): everything per turn is in memory.
    annotation = task.annotation
    questions = schema_cache.schema_questions(annotation.schema)
    turns = services.workspace_turns(task)
    sources = answer_rules.conversation_sources(task.conversation.metadata)
    panels, conversation_fields = forms.build_panels(
        questions, turns, services.annotation_answers(annotation), errors, sources
    )
    position = getattr(task, "position", None) or queue.position(task.project, task.assignee)
    return {
        "project": task.project,
        "task": task,
        "annotation": annotation,
        "panels": panels,
        "conversation_fields": conversation_fields,
        "sources": sources,
        "source_texts": answer_rules.source_texts(sources),
        "has_evidence": any(q.kind == Question.Kind.EVIDENCE for q in questions),
        "number": position["done"] + 1,
        "waiting": position["waiting"],
        "elapsed": max(0, int((timezone.now() - annotation.started_at).total_seconds())),
        "missing": _describe_paths(missing or [], panels, conversation_fields),
        "escalation_notes": queue.escalation_notes(task),
        # A form only to show again with its errors; blank menus need none built.
        "skip_form": skip_form,
        "flag_form": flag_form,
        "skip_reasons": Task.SkipReason.choices,
        "flag_kinds": Flag.Kind.choices,
        "expertise_names": account_services.expertise_names(),
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
    task = queue.resume_task(user=request.user, slug=slug, with_position=True)
    if task is None:
        project, membership = project_for_member(request.user, slug)
        task = queue.claim_next_task(
            project=project,
            user=request.user,
            membership=membership,
            resume=False,
            with_position=True,
        )
    if task is None:
        return render(request, "annotation/no_task.html", {"project": project})
    task.assignee = request.user  # it is theirs: no query to load it again
    return render(request, "annotation/workspace.html", _workspace_context(task))


def _posted_version(request: HttpRequest) -> int:
    try:
        return int(request.POST.get("version", ""))
    except ValueError:
        return 0


def _save(request: HttpRequest, task_id: int, *, submit: bool) -> Annotation:
    """Save the posted form; the service loads (and locks) the task, questions and turns
    once, and reads the form with them."""
    return services.save_annotation(
        task=Task(pk=task_id),
        user=request.user,
        version=_posted_version(request),
        submit=submit,
        read_form=lambda questions, turns: forms.payload_from_post(request.POST, questions, turns),
    )


@login_required
@require_POST
def save(request: HttpRequest, task_id: int) -> HttpResponse:
    """Autosave: htmx on every change, or the page's beacon when it is hidden or closed."""
    try:
        annotation, error = _save(request, task_id, submit=False), None
    except exceptions.ServiceError as exc:  # a task not theirs: _task_or_404 says 404
        annotation, error = _task_or_404(request, task_id).annotation, exc
    task = annotation.task
    status = 200 if error is None else error.status
    if request.htmx:
        # Only a saved change moves the page's version: after a conflict it stays stale, so
        # every later save is refused too instead of overwriting what the other tab wrote.
        context = {
            "task": task,
            "annotation": annotation,
            "error": error,
            "swap_version": not error,
        }
        return render(request, "annotation/workspace/save_status.html", context, status=status)
    if "beacon" in request.GET:
        # The page is going away and never reads the answer: its status says it all.
        if error is None:
            return HttpResponse(status=204)
        return HttpResponse(error.message, status=status, content_type="text/plain; charset=utf-8")
    if error is not None:
        context = {**_workspace_context(task), "error": error}
        return render(request, "annotation/workspace.html", context, status=status)
    return redirect("annotation:label", slug=task.project.slug)


@login_required
@require_POST
def submit(request: HttpRequest, task_id: int) -> HttpResponse:
    try:
        annotation = _save(request, task_id, submit=True)
    except exceptions.ServiceError as exc:
        task = _task_or_404(request, task_id)  # a task not theirs: 404
        missing = exc.missing if isinstance(exc, exceptions.MissingRequired) else None
        context = _workspace_context(task, missing=missing)
        context["error"] = None if missing else exc
        status = exc.status
        if not request.htmx:
            return render(request, "annotation/workspace.html", context, status=status)
        if missing:
            return render(request, "annotation/workspace/submit_errors.html", context, status=400)
        response = render(request, "annotation/workspace/save_status.html", context, status=status)
        return retarget(response, "#save-status")
    return _go_to(request, reverse("annotation:label", args=[annotation.task.project.slug]))


def _go_to(request: HttpRequest, url: str) -> HttpResponse:
    """Load another page: the whole body for htmx, a redirect otherwise."""
    if request.htmx:
        return HttpResponseLocation(url, target="body")
    return redirect(url)


@login_required
@require_POST
def flag(request: HttpRequest, task_id: int) -> HttpResponse:
    """Report a problem with the conversation (personal data, broken text...) to the leads."""
    task = _task_or_404(request, task_id)
    form = forms.FlagForm(request.POST)
    raised, status = None, 400
    if form.is_valid():
        try:
            raised = services.flag_conversation(
                task_id=task.pk, user=request.user, **form.cleaned_data
            )
        except exceptions.ServiceError as exc:
            form.add_error(None, exc.message)
            status = exc.status
        else:
            status = 200
    if request.htmx:
        context = {
            "task": task,
            "flag_form": None if raised else form,
            "flag": raised,
            "flag_kinds": Flag.Kind.choices,
        }
        return render(request, "annotation/workspace/flag_form.html", context, status=status)
    if raised:
        messages.success(request, f"Flagged: {raised.get_kind_display()}. A lead will look at it.")
        return redirect("annotation:label", slug=task.project.slug)
    context = _workspace_context(task, flag_form=form)
    return render(request, "annotation/workspace.html", context, status=status)


OPEN_FLAGS_SHOWN = 50


def _open_flags(project: Project) -> dict[str, Any]:
    flags = list(services.project_flags(project)[: OPEN_FLAGS_SHOWN + 1])
    return {"open_flags": flags[:OPEN_FLAGS_SHOWN], "more_flags": len(flags) > OPEN_FLAGS_SHOWN}


@login_required
@require_POST
def resolve_flag(request: HttpRequest, flag_id: int) -> HttpResponse:
    resolved = services.resolve_flag(flag_id=flag_id, user=request.user)
    project = resolved.project
    if not request.htmx:
        messages.success(request, "Flag resolved.")
        return redirect("annotation:dashboard", slug=project.slug)
    context = {"project": project, "resolved": resolved, **_open_flags(project)}
    return render(request, "annotation/dashboard.html#open-flags", context)


def _imports_page(request, project: Project, form: forms.ImportForm, status: int = 200):
    jobs = project.import_jobs.select_related("created_by")[:50]
    context = {"project": project, "form": form, "jobs": jobs}
    return render(request, "annotation/imports.html", context, status=status)


@login_required
@require_GET
def import_list(request: HttpRequest, slug: str) -> HttpResponse:
    return _imports_page(request, project_for_lead(request.user, slug)[0], forms.ImportForm())


@login_required
@require_POST
def upload(request: HttpRequest, slug: str) -> HttpResponse:
    project, _ = project_for_lead(request.user, slug)
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
    job = imports.get_import_job(job_id=job_id, user=request.user)
    state = imports.import_job_state(job)
    state["percent"] = int(100 * state["processed"] / state["total"]) if state["total"] else 0
    template = "annotation/import_detail.html"
    if request.htmx:
        template += "#import-progress"
    return render(request, template, {"job": job, "state": state, "project": job.project})


# --- The labeling queue: dashboard, queue page, assignments, skipping and releasing -----

TASK_PAGE = 50


@login_required
@require_GET
@vary_on_headers("HX-Request")
def dashboard(request: HttpRequest, slug: str) -> HttpResponse:
    project, membership = project_for_member(request.user, slug)
    progress = queue.progress(project, membership)
    people = progress["annotators"]
    for row in people:
        seconds = row["median_seconds"]
        row["median_minutes"] = None if seconds is None else round(seconds / 60, 1)
    context = {
        "project": project,
        "membership": membership,
        "counts": progress["counts"],
        "total": progress["total"],
        "people": people,
    }
    template = "annotation/dashboard.html"
    if request.htmx:
        template += "#dashboard-stats"
    elif membership.is_lead:
        context.update(_open_flags(project))
    return render(request, template, context)


def _match(project: Project, form: forms.QueueFilterForm) -> dict[str, Any]:
    """How many conversations the filter matches, or what is wrong with it."""
    if not form.is_valid():
        problems = [
            (f"{form.fields[name].label}: " if name != "__all__" else "") + message
            for name, messages_ in form.errors.items()
            for message in messages_
        ]
        return {"error": " ".join(problems)}
    try:
        return {"count": queue.filter_conversations(project, form.filters()).count()}
    except exceptions.InvalidInput as exc:
        return {"error": exc.message}


def _task_list(request: HttpRequest, project: Project) -> dict[str, Any]:
    """One page of the project's tasks, by id after `after` (keyset: no count of them all)."""
    form = forms.TaskListForm(request.GET, project=project)
    data = form.cleaned_data if form.is_valid() else {}
    tasks = Task.objects.filter(project=project)
    if status := data.get("task_status"):
        tasks = tasks.in_bucket(status)
    if data.get("assignee"):
        tasks = tasks.filter(assignee__username=data["assignee"])
    if data.get("after"):
        tasks = tasks.filter(id__gt=data["after"])
    rows = list(
        tasks.select_related("conversation", "assignee", "required_expertise").order_by("id")[
            : TASK_PAGE + 1
        ]
    )
    queue_url = reverse("annotation:queue", args=[project.slug])
    next_url = None
    if len(rows) > TASK_PAGE:
        rows = rows[:TASK_PAGE]
        query = request.GET.copy()
        query["after"] = rows[-1].pk
        next_url = f"{queue_url}?{query.urlencode()}"
    first = request.GET.copy()
    first.pop("after", None)
    return {
        "task_form": form,
        "tasks": rows,
        "next_page_url": next_url,
        "first_page_url": f"{queue_url}?{first.urlencode()}" if data.get("after") else None,
        "next_url": f"{queue_url}?{request.GET.urlencode()}" if request.GET else queue_url,
    }


def _queue_page(
    request: HttpRequest,
    project: Project,
    filter_form: forms.QueueFilterForm,
    assign_form: forms.AssignmentForm,
    *,
    error: str = "",
    status: int = 200,
) -> HttpResponse:
    context = {
        "project": project,
        "filter_form": filter_form,
        "assign_form": assign_form,
        "error": error,
        "match": _match(project, filter_form),
        "jobs": [
            (job, _describe_filters(job.filters))
            for job in project.assignment_jobs.select_related("created_by", "expertise")[:10]
        ],
        **_task_list(request, project),
    }
    return render(request, "annotation/queue.html", context, status=status)


@login_required
@require_GET
@vary_on_headers("HX-Request")
def queue_page(request: HttpRequest, slug: str) -> HttpResponse:
    project, _ = project_for_lead(request.user, slug)
    if request.htmx and not request.htmx.history_restore_request:
        context = {"project": project, **_task_list(request, project)}
        return render(request, "annotation/queue.html#task-list", context)
    filter_form = forms.QueueFilterForm(request.GET, project=project)
    return _queue_page(request, project, filter_form, forms.AssignmentForm(project=project))


@login_required
@require_GET
def queue_preview(request: HttpRequest, slug: str) -> HttpResponse:
    project, _ = project_for_lead(request.user, slug)
    if not request.htmx:
        return redirect(f"{reverse('annotation:queue', args=[slug])}?{request.GET.urlencode()}")
    match = _match(project, forms.QueueFilterForm(request.GET, project=project))
    status = 400 if "error" in match else 200
    return render(request, "annotation/queue.html#match-count", {"match": match}, status=status)


@login_required
@require_POST
def assign(request: HttpRequest, slug: str) -> HttpResponse:
    project, _ = project_for_lead(request.user, slug)
    filter_form = forms.QueueFilterForm(request.POST, project=project)
    assign_form = forms.AssignmentForm(request.POST, project=project)
    if not (filter_form.is_valid() and assign_form.is_valid()):
        return _queue_page(request, project, filter_form, assign_form, status=400)
    data = assign_form.cleaned_data
    try:
        job = queue.create_assignment_job(
            project=project,
            actor=request.user,
            action=data["action"],
            filters=filter_form.filters(),
            annotators=data["annotators"],
            expertise=data["expertise"],
            priority=data["priority"],
        )
    except exceptions.ServiceError as exc:
        return _queue_page(
            request, project, filter_form, assign_form, error=exc.message, status=400
        )
    return redirect("annotation:assignment", job_id=job.pk)


def _describe_filters(filters: dict[str, Any]) -> list[str]:
    """A lead's filter in words, e.g. ["domain = insurance", "not labeled yet"]."""
    statuses = dict(forms.FILTER_STATUS_CHOICES)
    parts = []
    if filters.get("import_job"):
        parts.append(f"import batch #{filters['import_job']}")
    parts += [f"{key} = {value}" for key, value in (filters.get("metadata") or {}).items()]
    if filters.get("tag"):
        parts.append(f"tagged {filters['tag']}")
    if filters.get("status"):
        status = filters["status"]
        parts.append(f"with a task that is {statuses.get(status, status).lower()}")
    if filters.get("labeled"):
        parts.append("labeled" if filters["labeled"] == "yes" else "not labeled yet")
    if filters.get("ids"):
        parts.append(f"{len(filters['ids'])} chosen conversations")
    return parts or ["all conversations"]


def _percent(job: AssignmentJob) -> int:
    if job.status == AssignmentJob.Status.SUCCEEDED:
        return 100
    return int(100 * job.processed / job.total) if job.total else 0


@login_required
@require_GET
@vary_on_headers("HX-Request")
def assignment_detail(request: HttpRequest, job_id: int) -> HttpResponse:
    job = queue.get_assignment_job(job_id=job_id, user=request.user)
    context = {
        "job": job,
        "project": job.project,
        "filters": _describe_filters(job.filters),
        "people": list(job.annotators.order_by("username").values_list("username", flat=True)),
        "percent": _percent(job),
    }
    template = "annotation/assignment_detail.html"
    if request.htmx:
        template += "#assignment-progress"
    return render(request, template, context)


@login_required
@require_POST
def skip(request: HttpRequest, task_id: int) -> HttpResponse:
    task = _task_or_404(request, task_id)
    form = forms.SkipForm(request.POST)
    status = 400
    if form.is_valid():
        try:
            queue.skip_task(task_id=task.pk, user=request.user, **form.cleaned_data)
        except exceptions.ServiceError as exc:
            form.add_error(None, exc.message)
            status = exc.status
        else:
            return _go_to(request, reverse("annotation:label", args=[task.project.slug]))
    template = "annotation/workspace.html"
    if request.htmx:
        template = "annotation/workspace/skip_form.html"
    return render(request, template, _workspace_context(task, skip_form=form), status=status)


def _safe_next(request: HttpRequest) -> str:
    url = request.POST.get("next", "")
    allowed = url_has_allowed_host_and_scheme(
        url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return url if allowed else ""


@login_required
@require_POST
def release(request: HttpRequest, task_id: int) -> HttpResponse:
    """Give a task back: its annotator from the workspace, or a lead from the queue page."""
    error = None
    try:
        queue.release_task(task_id=task_id, user=request.user)
    except exceptions.NotFound:
        raise  # a 404 page (config.middleware), not a row saying so
    except exceptions.ServiceError as exc:
        error = exc
    task = Task.objects.select_related(
        "project", "conversation", "assignee", "required_expertise"
    ).get(pk=task_id)
    next_url = _safe_next(request) or reverse("annotation:project", args=[task.project.slug])
    if request.htmx and (request.htmx.target or "").startswith("task-row-"):
        context = {"task": task, "project": task.project, "row_error": error, "next_url": next_url}
        status = error.status if error else 200
        return render(request, "annotation/queue.html#task-row", context, status=status)
    if error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"{task.conversation.external_id} went back to the queue.")
    return _go_to(request, next_url)
