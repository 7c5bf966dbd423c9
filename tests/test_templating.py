"""The two template engines: Django's for most pages, Jinja2 for the workspace
(config/templating.py). Both must give the same page shell and the same escaping."""

import re

import pytest
from django.template import engines
from django.utils.safestring import mark_safe

from tests.factories import ConversationFactory

pytestmark = pytest.mark.django_db


def _shell(html: str) -> str:
    """The page around its content: head and top bar, without what each page adds."""
    html = re.sub(r'value="[^"]+"|"X-CSRFToken": "[^"]+"', "TOKEN", html)
    head = html[: html.index("<title>")] + html[html.index("</title>") : html.index("</head>")]
    head = re.sub(r"\s*<script src=\"/static/(js|vendor/diff)/[^>]+></script>", "", head)
    bar = html[html.index('<header class="topbar">') : html.index("</header>")]
    bar = re.sub(r'<a class="crumb".*?</a>|<span class="crumb">.*?</span>', "", bar)
    return re.sub(r"\s+", " ", head + bar)


def test_the_workspace_has_the_shell_of_every_other_page(client, project, annotator):
    ConversationFactory(project=project)
    client.force_login(annotator)
    django_page = client.get("/").content.decode()  # templates/base.html
    workspace = client.get(f"/projects/{project.slug}/label/").content.decode()  # jinja2/
    assert 'id="annotation-form"' in workspace
    assert _shell(workspace) == _shell(django_page)
    assert annotator.username in _shell(workspace) and "Log out" in _shell(workspace)


def test_jinja2_escapes_as_django_does_and_keeps_safe_strings():
    jinja = engines["jinja2"].from_string("{{ text }}|{{ safe }}|{{ form.data.kind }}|{{ n }}")
    django = engines["django"].from_string("{{ text }}|{{ safe }}|{{ form.data.kind }}|{{ n }}")
    context = {"text": "<a href='x'>\"&", "safe": mark_safe("<b>ok</b>"), "form": None, "n": 3}
    assert jinja.render(context) == django.render(context)
    assert jinja.render(context) == "&lt;a href=&#x27;x&#x27;&gt;&quot;&amp;|<b>ok</b>||3"


def test_messages_show_in_the_workspace_shell(client, project, annotator):
    ConversationFactory(project=project)
    client.force_login(annotator)
    client.get(f"/projects/{project.slug}/label/")  # claims
    task_id = re.search(
        r"/tasks/(\d+)/flag/", client.get(f"/projects/{project.slug}/label/").content.decode()
    ).group(1)
    client.post(f"/tasks/{task_id}/flag/", {"kind": "pii", "note": "a phone number"})
    page = client.get(f"/projects/{project.slug}/label/").content.decode()
    assert (
        '<li class="message-success">Flagged: Personal data. A lead will look at it.</li>' in page
    )
    # Shown once: the next page has none.
    again = client.get(f"/projects/{project.slug}/label/").content.decode()
    assert 'class="messages"' not in again


def test_the_workspace_masks_its_csrf_token_once(client, project, annotator):
    ConversationFactory(project=project)
    client.force_login(annotator)
    page = client.get(f"/projects/{project.slug}/label/").content.decode()
    tokens = re.findall(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    tokens += re.findall(r'"X-CSRFToken": "([^"]+)"', page)
    assert len(tokens) >= 5 and len(set(tokens)) == 1


def test_a_fragment_without_a_form_masks_no_token(rf, monkeypatch):
    from config import templating

    calls = []
    monkeypatch.setattr(templating, "get_token", lambda request: calls.append(1) or "t0ken")
    request = rf.get("/")
    fragment = engines["jinja2"].from_string("<p>saved</p>")
    assert fragment.render({}, request) == "<p>saved</p>" and calls == []
    form = engines["jinja2"].from_string("{{ csrf_input }}{{ csrf_input }}|{{ csrf_token }}")
    assert form.render({}, request).endswith('value="t0ken">|t0ken') and calls == [1]
