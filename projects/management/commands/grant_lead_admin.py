from django.core.management.base import BaseCommand, CommandError

from accounts.models import User
from projects import services


class Command(BaseCommand):
    help = "Let a user fix data in the Django admin (/admin/), limited to the projects they lead."

    def add_arguments(self, parser):
        parser.add_argument("username")

    def handle(self, *args, username: str, **options):
        user = User.objects.filter(username=username).first()
        if user is None:
            raise CommandError(f'No user named "{username}".')
        services.grant_lead_admin(user)
        self.stdout.write(f"{username} can now use /admin/ for the projects they lead.")
