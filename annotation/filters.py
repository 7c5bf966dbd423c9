"""Query-string filters for the API's lists (django-filter)."""

import django_filters

from annotation.models import ESCALATED, Task

TASK_STATUS_CHOICES = [
    *Task.Status.choices,
    (ESCALATED, "Escalated: open, waiting for an annotator with the expertise"),
]


class TaskFilter(django_filters.FilterSet):
    # The same buckets as the progress counts: "open" is the pool, "escalated" the open
    # tasks waiting for an expert, so a filtered list matches its count on the dashboard.
    status = django_filters.ChoiceFilter(
        choices=TASK_STATUS_CHOICES,
        method="filter_status",
        help_text='A task status, or "escalated"; "open" leaves out the escalated ones.',
    )
    assignee = django_filters.CharFilter(
        field_name="assignee__username", help_text="The annotator's username."
    )

    class Meta:
        model = Task
        fields = ["status", "assignee"]

    def filter_status(self, queryset, name: str, value: str):
        return queryset.in_bucket(value)
