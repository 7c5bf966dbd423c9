import secrets
from pathlib import Path

from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.models import ExpertiseTag, User
from annotation import imports
from projects import services as project_services
from projects.models import Membership, Project

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "demo_conversations.jsonl"

GUIDELINES = """\
## What we are labeling

Each conversation is a real-looking exchange between an employee or customer and an
enterprise assistant. For every **assistant** turn, record what it *did* and what it
*should have done*, then whether its facts and citations hold.

## How to judge

- **Ask for clarification** when the request is ambiguous or misses information the answer
  depends on (which policy, which device, which account).
- **Refuse or defer** when the assistant lacks authority (claim decisions, pay, legal or tax
  advice) or the request is out of scope. Deferring names who can help.
- **Express uncertainty** when the knowledge base does not settle the question.
- **Answer** only what the system prompt's documents support. Anything else is *unsupported*
  or *fabricated*: an invented policy, feature, price or menu path is fabricated even when it
  sounds plausible.
- A citation is **correct** only if the cited document is listed in the system prompt and
  says what the assistant claims.

When the reply was wrong, write the **corrected response** you would want a model to learn.
"""

PEOPLE = [
    ("lead", "Lena", "Lead", Membership.Role.LEAD, ["insurance", "banking"]),
    ("ana", "Ana", "Ortiz", Membership.Role.ANNOTATOR, ["it_helpdesk", "hr_policy"]),
    ("ben", "Ben", "Okafor", Membership.Role.ANNOTATOR, ["insurance", "product_support"]),
]


class Command(BaseCommand):
    help = "Create demo users and a demo project of 36 enterprise conversations."

    def add_arguments(self, parser):
        parser.add_argument(
            "--password",
            help="Password for every demo user (default: a new random one per user, printed).",
        )

    @transaction.atomic
    def handle(self, *args, password: str | None, **options):
        logins = []
        users = {}
        for username, first, last, role, expertise in PEOPLE:
            user, _ = User.objects.get_or_create(
                username=username,
                defaults={
                    "first_name": first,
                    "last_name": last,
                    "email": f"{username}@example.com",
                },
            )
            user_password = password or secrets.token_urlsafe(9)
            user.set_password(user_password)
            user.save()
            user.expertise.set(
                [ExpertiseTag.objects.get_or_create(name=tag)[0] for tag in expertise]
            )
            users[username] = (user, role)
            logins.append((username, user_password, role))

        project = Project.objects.filter(slug="demo").first()
        if project is None:
            project = project_services.create_project(
                creator=users["lead"][0],
                slug="demo",
                name="Enterprise assistant audit",
                description="36 helpdesk, HR, insurance, banking and product-support "
                "conversations. Find where the assistant should have asked, refused or hedged.",
                guidelines=GUIDELINES,
                overlap=2,
            )
        for user, role in users.values():
            project_services.set_membership(
                project=project, actor=users["lead"][0], username=user.username, role=role
            )
        project_services.grant_lead_admin(users["lead"][0])

        with FIXTURE.open("rb") as stream:
            result = imports.import_conversations(project=project, stream=stream)

        self.stdout.write(
            f'Demo project "{project.name}" (/projects/{project.slug}/): '
            f"{result.conversations} conversations imported, {result.skipped} already there."
        )
        self.stdout.write("Log in at /accounts/login/ with:")
        for username, user_password, role in logins:
            self.stdout.write(f"  {username:<6} {user_password:<16} ({role})")
