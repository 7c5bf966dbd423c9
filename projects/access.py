"""Load objects for a request, checking membership. Outsiders get 404, not 403."""

from django.core.exceptions import PermissionDenied
from django.http import Http404

from accounts.models import User
from projects.models import Membership, Project


def project_for_member(user: User, slug: str) -> tuple[Project, Membership]:
    """Return the project and the user's membership, or raise Http404."""
    membership = (
        Membership.objects.select_related("project").filter(project__slug=slug, user=user).first()
        if user.is_authenticated
        else None
    )
    if membership is None:
        raise Http404("No such project.")
    return membership.project, membership


def project_for_lead(user: User, slug: str) -> tuple[Project, Membership]:
    """Like project_for_member, for the project's leads: other members get 403."""
    project, membership = project_for_member(user, slug)
    if not membership.is_lead:
        raise PermissionDenied("Only a project lead can do this.")
    return project, membership
