"""{% load cached_url %}: Django's {% url %}, reversed once per process."""

import pytest
from django.template import Context, Template
from django.urls import NoReverseMatch

from config import templating

PAGE = (
    "{% load cached_url %}"
    "{% url 'annotation:home' %}|{% url 'annotation:save' task_id %}|"
    "{% url 'annotation:label' slug as label_url %}[{{ label_url }}]"
    "{% url 'annotation:nothing-like-this' as missing %}[{{ missing }}]"
)
DJANGO = PAGE.replace("{% load cached_url %}", "")


def test_it_renders_what_djangos_url_tag_renders():
    context = {"task_id": 7, "slug": "a&b"}
    assert Template(PAGE).render(Context(context)) == Template(DJANGO).render(Context(context))
    assert "/tasks/7/save/" in Template(PAGE).render(Context(context))


def test_each_url_is_reversed_once(monkeypatch):
    templating._reverse.cache_clear()
    calls = []
    real = templating.reverse
    monkeypatch.setattr(
        templating, "reverse", lambda *args, **kwargs: calls.append(args) or real(*args, **kwargs)
    )
    template = Template(PAGE)
    first = template.render(Context({"task_id": 8, "slug": "s"}))
    again = template.render(Context({"task_id": 8, "slug": "s"}))
    other = template.render(Context({"task_id": 9, "slug": "s"}))
    assert first == again and "/tasks/9/save/" in other
    # home, save 8, label, the missing one (tried each time: failures are not kept), save 9
    assert [name for name, *_ in calls].count("annotation:save") == 2
    assert [name for name, *_ in calls].count("annotation:home") == 1


def test_a_url_that_does_not_exist_fails_as_djangos_does():
    with pytest.raises(NoReverseMatch):
        Template("{% load cached_url %}{% url 'annotation:nothing-like-this' %}").render(Context())
