import pytest

from accounts.models import ExpertiseTag
from annotation.models import Task, Turn
from tests.factories import ConversationFactory

pytestmark = pytest.mark.django_db


def test_label_claims_a_task_and_shows_every_turn_with_its_panel(client, project, annotator):
    conversation = ConversationFactory(project=project, turns=5)
    client.force_login(annotator)
    response = client.get("/projects/support/label/")
    assert response.status_code == 200
    task = Task.objects.get(assignee=annotator)
    assert task.conversation == conversation
    html = response.content.decode()
    for index in range(5):
        assert f'id="turn-{index}"' in html
    # Assistant turns (2 and 4) get the assistant questions, the user turns get prompt traits.
    assert 'name="turns.2.factuality"' in html and 'name="turns.4.observed_behavior"' in html
    assert 'name="turns.1.prompt_traits"' in html
    assert 'name="turns.1.factuality"' not in html and 'name="turns.0.' not in html
    assert 'name="conversation.overall"' in html
    assert f'hx-post="/tasks/{task.pk}/save/"' in html
    assert 'name="version" id="annotation-version" value="1"' in html


def test_reloading_shows_the_same_task_with_saved_answers(client, project, annotator):
    ConversationFactory.create_batch(2, project=project)
    client.force_login(annotator)
    client.get("/projects/support/label/")
    task = Task.objects.get(assignee=annotator)
    client.post(
        f"/tasks/{task.pk}/save/",
        {
            "version": "1",
            "turns.2.factuality": "fabricated",
            "turns.2.observed_behavior": ["answered", "cited_sources"],
        },
        headers={"HX-Request": "true"},
    )
    html = client.get("/projects/support/label/").content.decode()
    assert Task.objects.filter(assignee=annotator).count() == 1
    assert 'value="fabricated" data-hotkey="4" checked' in html
    assert 'value="cited_sources" data-hotkey="6" checked' in html
    assert 'value="answered" data-hotkey="1" checked' in html
    assert 'value="2"' in html  # the version moved on


def test_turn_text_is_escaped(client, project, annotator):
    conversation = ConversationFactory(project=project, turns=3)
    Turn.objects.filter(conversation=conversation, index=1).update(
        text='<script>alert("x")</script><img src=x onerror=alert(1)>'
    )
    client.force_login(annotator)
    html = client.get("/projects/support/label/").content.decode()
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html


def test_nothing_left_says_so(client, project, annotator):
    client.force_login(annotator)
    response = client.get("/projects/support/label/")
    assert response.status_code == 200
    assert b"Nothing left to label" in response.content


def test_outsider_gets_404_and_claims_nothing(client, project, outsider):
    ConversationFactory(project=project)
    client.force_login(outsider)
    assert client.get("/projects/support/label/").status_code == 404
    assert not Task.objects.exclude(assignee=None).exists()


def test_label_is_get_only(client, project, annotator):
    client.force_login(annotator)
    assert client.post("/projects/support/label/").status_code == 405


# --- What the workspace shows -----------------------------------------------------------


def _claim(client, project, annotator, **conversation):
    conversation = ConversationFactory(project=project, turns=5, **conversation)
    client.force_login(annotator)
    return conversation


def _html(client) -> str:
    return client.get("/projects/support/label/").content.decode()


def test_turn_markdown_is_rendered_sanitised_and_the_raw_text_stays_escaped(
    client, project, annotator
):
    conversation = _claim(client, project, annotator)
    Turn.objects.filter(conversation=conversation, index=2).update(
        text="**Wires** go at 6.\n\n- [policy](javascript:alert(1))\n- <b onclick=x>y</b>"
    )
    html = _html(client)
    turn = html[html.index('id="turn-2"') : html.index('id="turn-3"')]
    assert "<strong>Wires</strong>" in turn and "<li>" in turn
    assert "href=" not in turn  # a javascript: link stays text
    assert "<b onclick" not in turn and "&lt;b onclick=x&gt;y&lt;/b&gt;" in turn
    raw = turn[turn.index('class="turn-raw text">') :].split("</div>")[0]
    assert "**Wires** go at 6." in raw and "[policy](javascript:alert(1))" in raw
    assert 'data-raw-toggle aria-pressed="false"' in turn and 'id="raw-toggle"' in html


def test_tool_calls_show_their_name_and_indented_arguments_and_tool_turns_their_result(
    client, project, annotator
):
    conversation = _claim(client, project, annotator)
    Turn.objects.filter(conversation=conversation, index=2).update(
        metadata={
            "tool_calls": [
                {"id": "call_1", "function": {"name": "lookup", "arguments": '{"account":"<7>"}'}}
            ]
        }
    )
    Turn.objects.filter(conversation=conversation, index=3).update(
        role="tool", text='{"balance": 12}', metadata={"name": "lookup"}
    )
    html = _html(client)
    assert (
        '<span class="muted">Calls</span> <code>lookup</code> <span class="muted">call_1</span>'
        in html
    )
    assert "<pre>{\n  &quot;account&quot;: &quot;&lt;7&gt;&quot;\n}</pre>" in html
    assert "result of <code>lookup</code>" in html
    assert '<pre class="turn-md tool-result">{\n  &quot;balance&quot;: 12\n}</pre>' in html


def test_system_turns_are_collapsed_and_long_turns_get_show_all(client, project, annotator):
    conversation = _claim(client, project, annotator)
    Turn.objects.filter(conversation=conversation, index=2).update(text="word " * 300)
    html = _html(client)
    assert '<details class="turn-text system-text"><summary>System prompt' in html
    assert 'class="turn-body is-long is-collapsed" id="turn-2-body"' in html
    assert 'aria-controls="turn-2-body">Show all' in html
    assert (
        'class="turn-body" id="turn-4-body"' in html and 'aria-controls="turn-4-body"' not in html
    )


def test_sources_are_shown_as_plain_text_beside_the_conversation(client, project, annotator):
    sources = [
        {
            "id": "p1",
            "title": "Policy <1>",
            "text": "Line one\r\n<i>two</i>",
            "url": "https://x.test/p",
        },
        {"id": "p2", "title": "Evil", "text": "three", "url": "javascript:alert(1)"},
    ]
    _claim(client, project, annotator, metadata={"sources": sources})
    html = _html(client)
    assert 'class="workspace-body has-sources"' in html
    assert (
        '<div class="source-text" data-source="p1" data-title="Policy &lt;1&gt;">'
        "Line one\r\n&lt;i&gt;two&lt;/i&gt;</div>" in html
    )
    assert 'href="https://x.test/p"' in html and "javascript:alert" not in html
    assert '<script id="source-texts" type="application/json">' in html
    assert '"p1": "Line one\\r\\n\\u003Ci\\u003Etwo\\u003C/i\\u003E"' in html


def test_no_sources_no_side_panel(client, project, annotator):
    _claim(client, project, annotator)
    html = _html(client)
    assert 'id="sources"' not in html and "has-sources" not in html


def test_the_guidelines_are_rendered_safely_with_their_version(client, project, owner, annotator):
    from projects import services as project_services

    project_services.update_project(
        project=project, actor=owner, guidelines="## Refusals\n\n<script>x()</script>*Always* cite."
    )
    _claim(client, project, annotator)
    html = _html(client)
    project.refresh_from_db()
    assert f"<strong>Guidelines v{project.guidelines_version}</strong>" in html
    assert "<h2>Refusals</h2>" in html and "<em>Always</em> cite." in html
    assert "<script>x()" not in html


def test_no_guidelines_no_panel(client, project, annotator):
    _claim(client, project, annotator)
    assert 'id="guidelines"' not in _html(client)


def test_the_header_shows_the_position_in_the_queue_and_the_clock(client, project, annotator):
    ConversationFactory.create_batch(3, project=project)
    client.force_login(annotator)
    html = _html(client)
    assert '<span id="task-number">Conversation 1</span>' in html
    assert '<span id="task-waiting">2 waiting</span>' in html
    assert 'id="task-timer" role="timer" data-elapsed="0">00:00</span>' in html
    assert '<h1 class="task-project">Support bot audit</h1>' in html


def test_a_rewrite_starts_from_the_turn_text(client, project, annotator):
    _claim(client, project, annotator)
    html = _html(client)
    rewrite = html[html.index('id="q-turns-2-corrected_response"') :].split("</textarea>")[0]
    assert 'data-original="assistant says 2">\nassistant says 2' in rewrite
    assert 'for="q-turns-2-corrected_response-input"' in rewrite


def test_an_evidence_question_lists_saved_passages(client, project, annotator):
    from annotation import services
    from projects.models import LabelSchema, Question

    schema = LabelSchema.objects.current_for(project)
    Question.objects.create(
        schema=schema,
        key="evidence",
        prompt="Which passages?",
        kind="evidence",
        scope="turn",
        roles=["assistant"],
        position=99,
    )
    sources = [{"id": "p1", "title": "Policy", "text": "Wires go at 5 p.m."}]
    _claim(client, project, annotator, metadata={"sources": sources})
    client.get("/projects/support/label/")
    task = Task.objects.get(assignee=annotator)
    services.save_annotation(
        task=task,
        user=annotator,
        version=1,
        conversation={},
        turns={"2": {"evidence": [{"source": "p1", "start": 0, "end": 5, "verdict": "supported"}]}},
    )
    html = _html(client)
    field = html[html.index('id="q-turns-2-evidence"') :].split("</fieldset>")[0]
    assert (
        'name="turns.2.evidence" value="[{&quot;source&quot;:&quot;p1&quot;,&quot;start&quot;:0,'
        '&quot;end&quot;:5,&quot;verdict&quot;:&quot;supported&quot;}]" data-evidence-value>'
    ) in field
    assert (
        '<q class="passage-quote">Wires</q>' in field
        and "Policy, characters 0\N{EN DASH}5" in field
    )
    assert 'id="passage-picker"' in html and "data-evidence-cite" in field


def test_a_new_expertise_is_offered_in_the_skip_menu_on_the_next_page(client, project, annotator):
    ConversationFactory(project=project)
    client.force_login(annotator)
    assert 'value="oncology"' not in _html(client)  # the list is now cached
    ExpertiseTag.objects.create(name="oncology")
    assert '<option value="oncology">oncology</option>' in _html(client)
    ExpertiseTag.objects.filter(name="oncology").get().delete()
    assert 'value="oncology"' not in _html(client)
