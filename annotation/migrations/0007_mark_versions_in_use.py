from django.db import migrations


def mark_in_use(apps, schema_editor):
    """Schemas already annotated under are in use; every project gets its guidelines v1."""
    LabelSchema = apps.get_model("projects", "LabelSchema")
    GuidelinesVersion = apps.get_model("projects", "GuidelinesVersion")
    Project = apps.get_model("projects", "Project")
    Annotation = apps.get_model("annotation", "Annotation")
    LabelSchema.objects.filter(id__in=Annotation.objects.values("schema_id").distinct()).update(
        in_use=True
    )
    for project in Project.objects.all():
        GuidelinesVersion.objects.get_or_create(
            project=project,
            version=project.guidelines_version,
            defaults={
                "text": project.guidelines,
                "in_use": Annotation.objects.filter(task__project=project).exists(),
            },
        )


class Migration(migrations.Migration):
    dependencies = [
        ("annotation", "0006_versions_and_flags"),
        ("projects", "0003_versions"),
    ]

    operations = [migrations.RunPython(mark_in_use, migrations.RunPython.noop)]
