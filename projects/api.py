from django.db.models import OuterRef, Subquery
from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.response import Response
from rest_framework.views import APIView

from projects import services
from projects.access import project_for_member
from projects.models import LabelSchema, Membership, Project
from projects.serializers import (
    EditableSchemaSerializer,
    GuidelinesSerializer,
    MembershipSerializer,
    ProjectSerializer,
    ProjectUpdateSerializer,
    SchemaQuerySerializer,
    SchemaWriteSerializer,
)


class ProjectViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Projects you are a member of. Anyone signed in may create one and becomes its lead."""

    lookup_field = "slug"
    serializer_class = ProjectSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Project.objects.none()
        my_role = Membership.objects.filter(project=OuterRef("pk"), user=self.request.user)
        return Project.objects.for_user(self.request.user).annotate(
            my_role=Subquery(my_role.values("role")[:1])
        )

    def get_object(self):
        project = super().get_object()
        if self.action in ("update", "partial_update"):
            # Refuse non-leads before validating, so they get 403, not hints about fields.
            services.require_lead(project, self.request.user)
        return project

    def get_serializer_class(self):
        if self.action in ("update", "partial_update"):
            return ProjectUpdateSerializer
        return ProjectSerializer

    def perform_create(self, serializer):
        project = services.create_project(creator=self.request.user, **serializer.validated_data)
        project.my_role = Membership.Role.LEAD
        serializer.instance = project

    def perform_update(self, serializer):
        project = services.update_project(
            project=serializer.instance, actor=self.request.user, **serializer.validated_data
        )
        serializer.instance = project


class MemberListView(APIView):
    """Members of a project. Leads add members or change their role by POSTing."""

    @extend_schema(responses=MembershipSerializer(many=True))
    def get(self, request, slug: str):
        project, _ = project_for_member(request.user, slug)
        members = project.memberships.select_related("user").order_by("user__username")
        return Response(MembershipSerializer(members, many=True).data)

    @extend_schema(request=MembershipSerializer, responses={201: MembershipSerializer})
    def post(self, request, slug: str):
        project, membership = project_for_member(request.user, slug)
        services.check_lead(membership)
        serializer = MembershipSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        membership, created = services.set_membership(
            project=project,
            actor=request.user,
            username=serializer.validated_data["user"]["username"],
            role=serializer.validated_data["role"],
        )
        return Response(
            MembershipSerializer(membership).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class SchemaView(APIView):
    """The project's label schema. Leads replace its questions with PUT: before labeling
    starts under the current version it is edited in place, after that the change is the
    next version."""

    @extend_schema(parameters=[SchemaQuerySerializer], responses=EditableSchemaSerializer)
    def get(self, request, slug: str):
        project, _ = project_for_member(request.user, slug)
        query = SchemaQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        schema = LabelSchema.objects.version_for(project, query.validated_data.get("version"))
        if schema is None:
            raise Http404("No such schema version.")
        return Response(EditableSchemaSerializer(schema).data)

    @extend_schema(request=SchemaWriteSerializer, responses=EditableSchemaSerializer)
    def put(self, request, slug: str):
        project, membership = project_for_member(request.user, slug)
        services.check_lead(membership)
        serializer = SchemaWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        schema = services.save_schema(
            project=project,
            actor=request.user,
            questions=serializer.validated_data["questions"],
            revision=serializer.validated_data.get("revision"),
        )
        return Response(EditableSchemaSerializer(schema).data)


class GuidelinesView(APIView):
    """The project's guidelines and their versions. Leads change them with PATCH on the
    project ("guidelines"); once labeling started under a version, a change is a new one."""

    @extend_schema(responses=GuidelinesSerializer)
    def get(self, request, slug: str):
        project, _ = project_for_member(request.user, slug)
        return Response(GuidelinesSerializer(project).data)
