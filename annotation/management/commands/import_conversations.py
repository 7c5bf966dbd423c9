import gzip
import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from annotation import importers, services
from annotation.exceptions import ImportFailed, InvalidInput
from projects.models import Project


def open_upload(path: Path):
    """Open a file for import, transparently un-gzipping `.gz` files."""
    if path.suffix == ".gz":
        return gzip.open(path, "rb")
    return path.open("rb")


class Command(BaseCommand):
    help = "Import a JSONL file of conversations into a project (all of it, or nothing)."

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
        show_progress = sys.stderr.isatty()

        def progress(result: services.ImportResult) -> None:
            if show_progress:
                sys.stderr.write(f"\r{result.processed:,} records read…")
                sys.stderr.flush()

        try:
            with open_upload(file) as stream:
                result = services.import_conversations(
                    project=target, stream=stream, format=format, on_progress=progress
                )
        except ImportFailed as exc:
            if show_progress:
                sys.stderr.write("\n")
            for problem in exc.errors:
                self.stderr.write(f"line {problem['line']}: {problem['message']}")
            raise CommandError(exc.message) from None
        except InvalidInput as exc:
            raise CommandError(exc.message) from None
        except (OSError, EOFError) as exc:  # unreadable, or a .gz that is not gzip
            raise CommandError(f"Cannot read {file}: {exc}") from None
        if show_progress:
            sys.stderr.write("\n")
        self.stdout.write(
            self.style.SUCCESS(
                f"Imported {result.conversations:,} conversations ({result.turns:,} turns) "
                f"as {result.format}; skipped {result.skipped:,} already in the project."
            )
        )
