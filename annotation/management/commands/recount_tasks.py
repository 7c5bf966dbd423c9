from django.core.management.base import BaseCommand, CommandError

from annotation import queue
from projects.models import Project


class Command(BaseCommand):
    help = "Rebuild the maintained task counts of a project (or all) from its tasks."

    def add_arguments(self, parser):
        parser.add_argument("--project", help="The project's slug (default: every project).")

    def handle(self, *args, project: str | None, **options):
        projects = Project.objects.all()
        if project:
            projects = projects.filter(slug=project)
            if not projects.exists():
                raise CommandError(f'No project with the slug "{project}".')
        for target in projects.order_by("slug"):
            counts = queue.recount(target)
            summary = ", ".join(f"{bucket} {n:,}" for bucket, n in sorted(counts.items()))
            self.stdout.write(f"{target.slug}: {summary or 'no tasks'}")
