from typing import Any

from django.contrib.auth.models import Group, Permission
from django.db import IntegrityError, transaction

from accounts.models import User
from projects import schemas
from projects.exceptions import Conflict, InvalidInput, NotAllowed
from projects.models import GuidelinesVersion, LabelSchema, Membership, Project, Question
from projects.taxonomy import DEFAULT_QUESTIONS


def get_membership(project: Project, user: User) -> Membership | None:
    if not user.is_authenticated:
        return None
    return Membership.objects.filter(project=project, user=user).first()


def require_lead(project: Project, user: User) -> Membership:
    """Return the user's membership if they lead the project, else refuse."""
    return check_lead(get_membership(project, user))


def check_lead(membership: Membership | None) -> Membership:
    """Return the membership (already loaded) if it is a lead's, else refuse."""
    if membership is None or not membership.is_lead:
        raise NotAllowed("Only a project lead can do this.")
    return membership


def create_schema(
    *, project: Project, questions: list[dict[str, Any]], version: int = 1
) -> LabelSchema:
    """Create one version of a project's label schema from question dicts."""
    schema = LabelSchema.objects.create(project=project, version=version)
    _write_questions(schema, questions)
    return schema


def _write_questions(schema: LabelSchema, questions: list[dict[str, Any]]) -> None:
    Question.objects.bulk_create(
        Question(schema=schema, position=position, **question)
        for position, question in enumerate(questions)
    )


@transaction.atomic
def create_project(
    *,
    creator: User,
    slug: str,
    name: str,
    description: str = "",
    guidelines: str = "",
    overlap: int = 1,
    lease_minutes: int = 60,
    assignment_mode: str = Project.AssignmentMode.POOL,
    allow_skip: bool = True,
) -> Project:
    """Create a project led by its creator, with the default label schema."""
    if Project.objects.filter(slug=slug).exists():
        raise InvalidInput(f'A project with the slug "{slug}" already exists.')
    project = Project.objects.create(
        slug=slug,
        name=name,
        description=description,
        guidelines=guidelines,
        overlap=overlap,
        lease_minutes=lease_minutes,
        assignment_mode=assignment_mode,
        allow_skip=allow_skip,
        created_by=creator,
    )
    Membership.objects.create(project=project, user=creator, role=Membership.Role.LEAD)
    create_schema(project=project, questions=DEFAULT_QUESTIONS)
    GuidelinesVersion.objects.create(project=project, version=1, text=guidelines)
    return project


@transaction.atomic
def update_project(*, project: Project, actor: User, **changes: Any) -> Project:
    """Change a project's settings; leads only.

    New guidelines after labeling started are a new version: annotations keep pointing at
    the text they were made under. A new `overlap` or `assignment_mode` moves tasks: for
    a project with conversations, call annotation.queue.update_project_settings.
    """
    require_lead(project, actor)
    guidelines = changes.pop("guidelines", None)
    if guidelines is not None and guidelines != project.guidelines:
        _change_guidelines(project, guidelines)
    for field, value in changes.items():
        setattr(project, field, value)
    if changes:
        project.save(update_fields=list(changes))
    return project


def _change_guidelines(project: Project, text: str) -> None:
    current, _ = GuidelinesVersion.objects.select_for_update().get_or_create(
        project=project, version=project.guidelines_version, defaults={"text": project.guidelines}
    )
    if current.in_use:
        project.guidelines_version += 1
        project.guidelines_in_use = False
        GuidelinesVersion.objects.create(
            project=project, version=project.guidelines_version, text=text
        )
    else:
        current.text = text
        current.save(update_fields=["text"])
    project.guidelines = text
    project.save(update_fields=["guidelines", "guidelines_version", "guidelines_in_use"])


SCHEMA_CHANGED = (
    "Someone saved the schema after you opened it, so your changes were not saved. They are "
    "still here: save again to replace the other changes with yours, or open the schema page "
    "in a new tab to compare first."
)


@transaction.atomic
def save_schema(
    *, project: Project, actor: User, questions: Any, revision: str | None = None
) -> LabelSchema:
    """Replace the project's questions (leads only); checked first, with clear errors.

    Once an annotation was made under the current version, the change is a new version:
    answers already given keep the questions they answered, and are never re-read under
    new ones. Before that, the current version is edited in place. Saving the same
    questions again changes nothing. With `revision` (schemas.revision of the schema the
    editor started from), a schema changed meanwhile raises Conflict and nothing is saved.
    """
    require_lead(project, actor)
    cleaned = schemas.clean_questions(questions)
    current = LabelSchema.objects.select_for_update().current_for(project)
    if revision is not None and current is not None and schemas.revision(current) != revision:
        raise Conflict(SCHEMA_CHANGED)
    if current is not None and _stored_questions(current) == cleaned:
        # Saving an unchanged schema must not start a new version nobody asked for.
        return current
    if current is None or current.in_use:
        try:
            with transaction.atomic():
                return create_schema(
                    project=project,
                    questions=cleaned,
                    version=(current.version + 1 if current else 1),
                )
        except IntegrityError:
            # Another save made this next version while this one waited for the lock on
            # the current version (the new row is not locked by it): it saved first.
            raise Conflict(SCHEMA_CHANGED) from None
    current.questions.all().delete()
    _write_questions(current, cleaned)
    return current


def _stored_questions(schema: LabelSchema) -> list[dict[str, Any]]:
    fields = ["key", "prompt", "help", "scope", "roles", "kind", "options", "required"]
    return list(schema.questions.values(*fields, "rating_min", "rating_max"))


def mark_in_use(*, schema: LabelSchema, project: Project) -> None:
    """Note that labeling started under this schema and these guidelines.

    Conditional updates: the first claim marks them, later ones change nothing.
    """
    if not schema.in_use:
        LabelSchema.objects.filter(pk=schema.pk, in_use=False).update(in_use=True)
        schema.in_use = True
    if not project.guidelines_in_use:
        GuidelinesVersion.objects.filter(
            project=project, version=project.guidelines_version, in_use=False
        ).update(in_use=True)
        Project.objects.filter(pk=project.pk, guidelines_in_use=False).update(
            guidelines_in_use=True
        )
        project.guidelines_in_use = True


@transaction.atomic
def set_membership(
    *, project: Project, actor: User, username: str, role: str
) -> tuple[Membership, bool]:
    """Add a user to the project with a role, or change their role; leads only.

    Returns the membership and whether it is new.
    """
    require_lead(project, actor)
    if role not in Membership.Role.values:
        raise InvalidInput(f'Unknown role "{role}" (expected {", ".join(Membership.Role.values)}).')
    user = User.objects.filter(username=username, is_active=True).first()
    if user is None:
        raise InvalidInput(f'No active user named "{username}".')
    membership = Membership.objects.select_for_update().filter(project=project, user=user).first()
    if membership is None:
        return Membership.objects.create(project=project, user=user, role=role), True
    if membership.is_lead and role != Membership.Role.LEAD:
        other_leads = Membership.objects.filter(project=project, role=Membership.Role.LEAD)
        if not other_leads.exclude(pk=membership.pk).exists():
            raise InvalidInput("A project needs at least one lead.")
    membership.role = role
    membership.save(update_fields=["role"])
    return membership, False


LEAD_ADMIN_GROUP = "Project leads"


@transaction.atomic
def grant_lead_admin(user: User) -> None:
    """Let a user fix data of the projects they lead in the Django admin."""
    group, _ = Group.objects.get_or_create(name=LEAD_ADMIN_GROUP)
    group.permissions.set(
        Permission.objects.filter(content_type__app_label__in=["projects", "annotation"])
    )
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    user.groups.add(group)
