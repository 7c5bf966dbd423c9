import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from annotation import importers, imports
from annotation.exceptions import ImportFailed, InvalidInput
from projects.models import Project

BAR_WIDTH = 30


class Command(BaseCommand):
    help = (
        "Import a file of conversations into a project: all of it, or nothing. "
        "JSON Lines, a JSON array or one JSON object, optionally gzipped; the format is "
        "detected unless --format is given."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)
        parser.add_argument("--project", required=True, help="The project's slug.")
        parser.add_argument(
            "--format", choices=importers.FORMATS, help="Skip detection and read as this format."
        )

    def handle(self, *args, file: Path, project: str, format: str | None, **options):
        target = Project.objects.filter(slug=project).first()
        if target is None:
            raise CommandError(f'No project with the slug "{project}".')
        if not file.is_file():
            raise CommandError(f"No such file: {file}")
        terminal = sys.stderr.isatty()

        def progress(result: imports.ImportResult) -> None:
            if not terminal or not result.bytes_total:
                return
            done = result.bytes_read / result.bytes_total
            bar = "#" * int(done * BAR_WIDTH)
            sys.stderr.write(
                f"\r[{bar:<{BAR_WIDTH}}] {done:4.0%}  {result.conversations:,} conversations"
            )
            sys.stderr.flush()

        try:
            _job, result = imports.import_local_file(
                project=target, path=file, format=format, on_progress=progress
            )
        except ImportFailed as exc:
            for problem in exc.errors:
                self.stderr.write(importers.describe_problem(problem))
            raise CommandError(exc.message) from None
        except InvalidInput as exc:
            raise CommandError(exc.message) from None
        finally:
            if terminal:
                sys.stderr.write("\n")
        self.stdout.write(
            self.style.SUCCESS(
                f"Imported {result.conversations:,} conversations ({result.turns:,} turns) "
                f"as {result.format}; skipped {result.skipped:,} already in the project."
            )
        )
