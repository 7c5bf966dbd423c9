from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from annotation import exporters, imports, queue, services
from annotation.filters import TaskFilter
from annotation.models import Conversation, Flag, Task
from annotation.serializers import (
    AnnotationSerializer,
    AnnotationWriteSerializer,
    AssignmentJobSerializer,
    AssignmentRequestSerializer,
    ConversationSerializer,
    FlagRequestSerializer,
    FlagSerializer,
    ImportJobSerializer,
    ImportUploadSerializer,
    JobAcceptedSerializer,
    ProgressSerializer,
    SkipSerializer,
    TaskItemSerializer,
    TaskSerializer,
)
from projects import api as project_api
from projects import cache as schema_cache
from projects import services as project_services
from projects.access import project_for_member
from projects.models import Membership


def _accepted(job, url_name: str, request) -> Response:
    """202 for a queued job: where it stands (it may have run already) and where to poll."""
    job.refresh_from_db(fields=["status"])
    url = reverse(url_name, args=[job.pk], request=request)
    return Response(
        {"id": job.pk, "status": job.status, "url": url}, status=status.HTTP_202_ACCEPTED
    )


def _task_payload(task: Task) -> dict:
    """What TaskSerializer describes, built directly: this is the hottest response.

    `task` as claim_next_task gives it (Task.objects.for_workspace()): nothing is read again
    but its turns, with their answers, in one query.
    """
    conversation, annotation = task.conversation, task.annotation
    turns = [
        {"index": t.index, "role": t.role, "text": t.text, "metadata": t.metadata}
        for t in services.workspace_turns(task)
    ]
    answers = services.annotation_answers(annotation)
    return {
        "id": task.pk,
        "status": task.status,
        "lease_expires_at": task.lease_expires_at,
        "conversation": {
            "id": conversation.external_id,
            "metadata": conversation.metadata,
            "turn_count": conversation.turn_count,
            "created_at": conversation.created_at,
            "turns": turns,
        },
        "schema": schema_cache.schema_payload(annotation.schema),
        "annotation": {
            "version": annotation.version,
            "status": annotation.status,
            "turns": answers["turns"],
            "conversation": answers["conversation"],
            "updated_at": annotation.updated_at,
            "submitted_at": annotation.submitted_at,
        },
    }


class ConversationListView(generics.ListAPIView):
    """The project's conversations, oldest first, paginated."""

    serializer_class = ConversationSerializer
    queryset = Conversation.objects.none()  # for the schema generator

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return self.queryset
        project, _ = project_for_member(self.request.user, self.kwargs["slug"])
        return project.conversations.order_by("id")


class NextTaskView(APIView):
    """Claim your next task (or get the one you are on). 204 when there is nothing to do."""

    @extend_schema(
        request=None,
        responses={200: TaskSerializer, 204: OpenApiResponse(description="No task left.")},
    )
    def post(self, request, slug: str):
        project, membership = project_for_member(request.user, slug)
        task = queue.claim_next_task(project=project, user=request.user, membership=membership)
        if task is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(_task_payload(task))


class TaskAnnotationView(APIView):
    """Your answers on a task. PUT replaces them all, guarded by `version`."""

    @extend_schema(responses=AnnotationSerializer)
    def get(self, request, task_id: int):
        task = services.get_task_for_annotator(task_id=task_id, user=request.user)
        return Response(AnnotationSerializer(task.annotation).data)

    @extend_schema(request=AnnotationWriteSerializer, responses=AnnotationSerializer)
    def put(self, request, task_id: int):
        serializer = AnnotationWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        # The service loads (and locks) the task, and refuses anyone but its annotator.
        annotation = services.save_annotation(
            task=Task(pk=task_id), user=request.user, **serializer.validated_data
        )
        return Response(AnnotationSerializer(annotation).data)


class ExportView(APIView):
    """Stream the project as JSON Lines, one conversation per line with its annotations."""

    # `?format=` names the export format here, not DRF's renderer.
    def perform_content_negotiation(self, request, force=False):
        return (JSONRenderer(), "application/json")

    @extend_schema(
        parameters=[
            OpenApiParameter("format", str, enum=list(exporters.EXPORT_FORMATS), default="native"),
            OpenApiParameter(
                "status",
                str,
                enum=["all", "submitted"],
                default="all",
                description="`submitted` leaves out drafts.",
            ),
            OpenApiParameter(
                "flagged",
                str,
                enum=["include", "exclude"],
                default="include",
                description="`exclude` leaves out conversations with an open flag (each "
                "record lists its open flags either way).",
            ),
        ],
        responses={(200, "application/x-ndjson"): OpenApiTypes.BINARY},
    )
    def get(self, request, slug: str):
        project, _ = project_for_member(request.user, slug)
        export_format = request.query_params.get("format", "native")
        if export_format not in exporters.EXPORT_FORMATS:
            raise ValidationError(
                {
                    "format": f'Unknown format "{export_format}" '
                    f"(expected {', '.join(exporters.EXPORT_FORMATS)})."
                }
            )
        which = request.query_params.get("status", "all")
        if which not in ("all", "submitted"):
            raise ValidationError({"status": 'Expected "all" or "submitted".'})
        flagged = request.query_params.get("flagged", "include")
        if flagged not in ("include", "exclude"):
            raise ValidationError({"flagged": 'Expected "include" or "exclude".'})
        response = StreamingHttpResponse(
            exporters.export_native(
                project, submitted_only=which == "submitted", without_flagged=flagged == "exclude"
            ),
            content_type="application/x-ndjson",
        )
        response["Content-Disposition"] = (
            f'attachment; filename="{project.slug}-{export_format}.jsonl"'
        )
        return response


class ImportListView(APIView):
    """Upload a file to import into the project (leads only). 202: poll the job's url."""

    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(
        request={"multipart/form-data": ImportUploadSerializer},
        responses={202: OpenApiResponse(description='{"id", "status", "url"}')},
    )
    def post(self, request, slug: str):
        project, membership = project_for_member(request.user, slug)
        project_services.check_lead(membership)
        serializer = ImportUploadSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        job = imports.create_import_job(
            project=project,
            user=request.user,
            upload=serializer.validated_data["file"],
            format=serializer.validated_data.get("format") or None,
        )
        return _accepted(job, "api:import", request)


class ImportDetailView(APIView):
    """An import job's status, progress, counts and errors."""

    @extend_schema(responses=ImportJobSerializer)
    def get(self, request, job_id: int):
        job = imports.get_import_job(job_id=job_id, user=request.user)
        return Response(ImportJobSerializer(imports.import_job_state(job)).data)


def _task_item(task: Task) -> dict:
    task = Task.objects.select_related("conversation", "assignee", "required_expertise").get(
        pk=task.pk
    )
    return TaskItemSerializer(task).data


class TaskCursorPagination(CursorPagination):
    # Keyset paging by id: no COUNT, and a page deep into a million tasks costs the same
    # as the first one.
    ordering = "id"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


class TaskListView(generics.ListAPIView):
    """The project's tasks by id, filtered by status and assignee. Annotators see their own."""

    serializer_class = TaskItemSerializer
    filterset_class = TaskFilter
    pagination_class = TaskCursorPagination
    queryset = Task.objects.none()  # for the schema generator

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return self.queryset
        project, membership = project_for_member(self.request.user, self.kwargs["slug"])
        tasks = Task.objects.filter(project=project).select_related(
            "conversation", "assignee", "required_expertise"
        )
        if membership.role == Membership.Role.ANNOTATOR:
            tasks = tasks.for_annotator(self.request.user)
        return tasks


class AssignmentListView(APIView):
    """Assign, distribute, unassign or reprioritize filtered conversations (leads only).

    202: the work runs in the background; poll the job's url.
    """

    @extend_schema(request=AssignmentRequestSerializer, responses={202: JobAcceptedSerializer})
    def post(self, request, slug: str):
        project, membership = project_for_member(request.user, slug)
        project_services.check_lead(membership)
        serializer = AssignmentRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        job = queue.create_assignment_job(
            project=project,
            actor=request.user,
            action=data["action"],
            filters=data["filter"],
            annotators=data["annotators"],
            expertise=data["expertise"],
            priority=data["priority"],
        )
        return _accepted(job, "api:assignment", request)


class AssignmentDetailView(APIView):
    """A bulk assignment's status, progress and counts (leads of its project)."""

    @extend_schema(responses=AssignmentJobSerializer)
    def get(self, request, job_id: int):
        job = queue.get_assignment_job(job_id=job_id, user=request.user)
        return Response(AssignmentJobSerializer(job).data)


class ReleaseTaskView(APIView):
    """Give a task back to the pool: its annotator, or a lead of its project."""

    @extend_schema(request=None, responses=TaskItemSerializer)
    def post(self, request, task_id: int):
        task = queue.release_task(task_id=task_id, user=request.user)
        return Response(_task_item(task))


class SkipTaskView(APIView):
    """Skip your task with a reason; "needs_expert" sends it to annotators with an expertise."""

    @extend_schema(request=SkipSerializer, responses=TaskItemSerializer)
    def post(self, request, task_id: int):
        serializer = SkipSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        task = queue.skip_task(task_id=task_id, user=request.user, **serializer.validated_data)
        return Response(_task_item(task))


class TaskFlagView(APIView):
    """Flag your task's conversation for the leads: personal data, broken text, offensive
    content, or something else (say what in the note)."""

    @extend_schema(request=FlagRequestSerializer, responses={201: FlagSerializer})
    def post(self, request, task_id: int):
        serializer = FlagRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        flag = services.flag_conversation(
            task_id=task_id, user=request.user, **serializer.validated_data
        )
        return Response(FlagSerializer(flag).data, status=status.HTTP_201_CREATED)


# ?status= of the flag list, as services.project_flags' `resolved`.
FLAG_STATUSES = {"open": False, "resolved": True, "all": None}


@extend_schema(
    parameters=[
        OpenApiParameter(
            "status", str, enum=list(FLAG_STATUSES), default="open", description="Which flags."
        )
    ]
)
class FlagListView(generics.ListAPIView):
    """The project's flags, newest first (leads), paginated."""

    serializer_class = FlagSerializer
    queryset = Flag.objects.none()  # for the schema generator

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return self.queryset
        project, membership = project_for_member(self.request.user, self.kwargs["slug"])
        project_services.check_lead(membership)
        which = self.request.query_params.get("status", "open")
        if which not in FLAG_STATUSES:
            raise ValidationError({"status": 'Expected "open", "resolved" or "all".'})
        return services.project_flags(project, resolved=FLAG_STATUSES[which])


class ResolveFlagView(APIView):
    """Mark a flag dealt with (leads); resolving it again changes nothing."""

    @extend_schema(request=None, responses=FlagSerializer)
    def post(self, request, flag_id: int):
        flag = services.resolve_flag(flag_id=flag_id, user=request.user)
        return Response(FlagSerializer(flag).data)


class ProgressView(APIView):
    """Task counts per status and each member's pace (leads and reviewers)."""

    @extend_schema(responses=ProgressSerializer)
    def get(self, request, slug: str):
        project, membership = project_for_member(request.user, slug)
        return Response(ProgressSerializer(queue.progress(project, membership)).data)


class ProjectViewSet(project_api.ProjectViewSet):
    """Projects; changing `overlap` or `assignment_mode` also brings the tasks in step."""

    def perform_update(self, serializer):
        serializer.instance = queue.update_project_settings(
            project=serializer.instance, actor=self.request.user, **serializer.validated_data
        )
