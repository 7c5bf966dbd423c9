import factory
from django.utils import timezone

from accounts.models import User
from annotation import queue
from annotation.models import Annotation, Conversation, Task, Turn
from projects import services as project_services
from projects.models import LabelSchema, Membership, Project


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.django.Password("correct horse battery staple")


class ProjectFactory(factory.django.DjangoModelFactory):
    """Projects are made through the service, so they get a lead and the default schema."""

    class Meta:
        model = Project

    created_by = factory.SubFactory(UserFactory)
    slug = factory.Sequence(lambda n: f"project-{n}")
    name = factory.LazyAttribute(lambda p: p.slug.replace("-", " ").title())
    overlap = 1

    @classmethod
    def _create(cls, model_class, created_by, **kwargs):
        return project_services.create_project(creator=created_by, **kwargs)


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    role = Membership.Role.ANNOTATOR


class ConversationFactory(factory.django.DjangoModelFactory):
    """A conversation: a system turn, then user and assistant turns, and its open tasks.

    `ConversationFactory(project=p, turns=7, tasks=False)` sets the turn count and skips
    the tasks.
    """

    class Meta:
        model = Conversation
        skip_postgeneration_save = True

    external_id = factory.Sequence(lambda n: f"conv-{n}")
    content_hash = factory.Sequence(lambda n: f"{n:064x}")
    metadata = factory.LazyFunction(lambda: {"domain": "it_helpdesk"})

    @factory.post_generation
    def turns(obj, create, extracted, **kwargs):
        count = 5 if extracted is None else extracted
        roles = ["system"] + ["user", "assistant"] * count
        Turn.objects.bulk_create(
            Turn(conversation=obj, index=i, role=roles[i], text=f"{roles[i]} says {i}")
            for i in range(count)
        )
        obj.turn_count = count
        obj.save(update_fields=["turn_count"])

    @factory.post_generation
    def tasks(obj, create, extracted, **kwargs):
        if extracted is False:
            return
        Task.objects.bulk_create(
            Task(project=obj.project, conversation=obj) for _ in range(obj.project.overlap)
        )
        # As the importer does: the dashboard's counts move with the tasks.
        queue.count_moves(obj.project_id, {Task.Status.OPEN: obj.project.overlap})


def claimed_task(project, user, conversation=None) -> Task:
    """A task of the project, claimed by the user, with an empty draft annotation."""
    conversation = conversation or ConversationFactory(project=project)
    task = Task.objects.filter(conversation=conversation, status=Task.Status.OPEN).first()
    queue.count_moves(project.pk, {Task.Status.OPEN: -1, Task.Status.IN_PROGRESS: 1})
    now = timezone.now()
    task.status = Task.Status.IN_PROGRESS
    task.assignee = user
    task.claimed_at = now
    task.lease_expires_at = now + timezone.timedelta(minutes=project.lease_minutes)
    task.save()
    Annotation.objects.create(
        task=task, annotator=user, schema=LabelSchema.objects.current_for(project)
    )
    return task
