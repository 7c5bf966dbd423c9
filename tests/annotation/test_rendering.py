import pytest

from annotation import rendering
from annotation.forms import Field, TurnPanel, build_panels
from annotation.models import Turn
from projects import cache as schema_cache
from projects import markup
from projects.models import LabelSchema, Question

EVIL = '<script>alert("x")</script>'
ESCAPED_EVIL = "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;"


def question(kind: str, **kwargs) -> Question:
    defaults = {"key": "q", "prompt": "Question?", "scope": "turn", "roles": ["assistant"]}
    return Question(kind=kind, **{**defaults, **kwargs})


def tone(**kwargs) -> Question:
    options = [
        {"value": "calm", "label": "Calm", "hotkey": "1"},
        {"value": "rude", "label": "Rude", "hotkey": "2"},
        {"value": "other", "label": "Other", "hotkey": ""},
    ]
    return question("single", key="tone", prompt="Tone?", options=options, **kwargs)


def field_html(q: Question, value=None, **kwargs) -> str:
    return rendering.render_field(Field(question=q, name=f"turns.2.{q.key}", value=value, **kwargs))


def turn_html(role: str = "assistant", text: str = "Hello", fields=(), **turn) -> str:
    panel = TurnPanel(turn=Turn(index=2, role=role, text=text, **turn), fields=list(fields))
    return rendering.render_turn(panel)


# --- Choice fields --------------------------------------------------------------------


def test_a_single_choice_checks_the_answer_and_shows_hotkeys():
    html = field_html(tone(), value="rude")
    assert (
        '<input type="radio" name="turns.2.tone" value="rude" data-hotkey="2" checked '
        'aria-keyshortcuts="2">' in html
    )
    assert (
        '<input type="radio" name="turns.2.tone" value="calm" data-hotkey="1" '
        'aria-keyshortcuts="1">' in html
    )
    assert '<span>Rude</span><kbd aria-hidden="true">2</kbd>' in html
    # No hotkey, no data-hotkey nor kbd.
    assert '<input type="radio" name="turns.2.tone" value="other">\n<span>Other</span>\n' in html
    assert '<input type="radio" name="turns.2.tone" value="">' in html  # the clear chip
    assert html.index('value="calm"') < html.index('value="rude"') < html.index('value="other"')


def test_an_unanswered_single_choice_checks_the_no_answer_chip():
    html = field_html(tone())
    assert " checked" in html
    assert '<input type="radio" name="turns.2.tone" value="" checked><span>—</span>' in html


def test_a_multi_choice_is_checkboxes_with_each_answer_checked_and_no_clear_chip():
    q = question(
        "multi",
        key="did",
        options=[
            {"value": "answered", "label": "Answered", "hotkey": "a"},
            {"value": "refused", "label": "Refused", "hotkey": "r"},
            {"value": "cited", "label": "Cited", "hotkey": "c"},
        ],
    )
    html = field_html(q, value=["answered", "cited"])
    assert 'type="checkbox" name="turns.2.did" value="answered" data-hotkey="a" checked' in html
    assert 'type="checkbox" name="turns.2.did" value="refused" data-hotkey="r" aria-' in html
    assert 'type="checkbox" name="turns.2.did" value="cited" data-hotkey="c" checked' in html
    assert "chip-clear" not in html
    assert html.startswith('\n<fieldset class="field field-multi" id="q-turns-2-did"')


@pytest.mark.parametrize(("value", "checked"), [(True, "true"), (False, "false"), (None, "")])
def test_a_boolean_checks_yes_no_or_no_answer(value, checked):
    html = field_html(question("boolean", key="harmful"), value=value)
    assert html.count(" checked") == 1
    assert f'value="{checked}" data-hotkey' in html or f'value="{checked}" checked' in html
    if checked:
        assert f'value="{checked}" data-hotkey="{1 if value else 2}" checked' in html
    assert '<span>Yes</span><kbd aria-hidden="true">1</kbd>' in html
    assert '<span>No</span><kbd aria-hidden="true">2</kbd>' in html


def test_a_rating_shows_each_value_from_min_to_max_and_checks_the_answer():
    html = field_html(question("rating", key="overall", rating_min=-1, rating_max=3), value=2)
    for n in (-1, 0, 1, 3):
        assert f'value="{n}" data-hotkey="{n}"><span>{n}</span>' in html
    assert 'value="2" data-hotkey="2" checked><span>2</span>' in html
    assert 'value="4"' not in html and 'value="-2"' not in html
    assert 'value=""><span>—</span>' in html  # answered, so the clear chip is not checked


# --- Text fields -----------------------------------------------------------------------


def test_a_text_field_shows_the_answer_the_help_and_the_required_marker():
    q = question("text", key="why", prompt="Why?", help="One sentence.", required=True)
    html = field_html(q, value="Because <reasons>")
    assert html.startswith('\n<div class="field field-text" id="q-turns-2-why"')
    assert (
        '<label class="field-label" for="q-turns-2-why-input">Why? '
        '<span class="required" title="required">*</span></label>'
    ) in html
    assert '<p class="help" id="q-turns-2-why-help">One sentence.</p>' in html
    assert (
        '<textarea name="turns.2.why" id="q-turns-2-why-input" rows="2" '
        'aria-describedby="q-turns-2-why-help">\nBecause &lt;reasons&gt;</textarea>'
    ) in html
    assert "data-original" not in html and "rewrite-tools" not in html


def test_an_optional_question_has_no_required_marker_and_no_help():
    html = field_html(question("text", key="why"))
    assert 'class="required"' not in html and 'class="help"' not in html
    assert "aria-describedby" not in html


def test_a_rewrite_starts_from_the_turn_text_and_keeps_it_escaped_in_data_original():
    q = question("rewrite", key="fix")
    html = field_html(q, original=f'He said "hi" {EVIL}')
    assert f'rows="5" data-original="He said &quot;hi&quot; {ESCAPED_EVIL}">' in html
    assert f">\nHe said &quot;hi&quot; {ESCAPED_EVIL}</textarea>" in html
    assert "data-rewrite-reset" in html and "data-rewrite-diff hidden" in html
    answered = field_html(q, value="Better", original="Original")
    assert 'data-original="Original">\nBetter</textarea>' in answered


def test_a_field_with_an_error_says_so():
    html = field_html(tone(), error="Choose one <now>")
    assert 'class="field field-single has-error"' in html
    assert '<p class="error">Choose one &lt;now&gt;</p>\n</fieldset>' in html
    text = field_html(question("text", key="why"), error="Too long")
    assert 'class="field field-text has-error"' in text and '<p class="error">Too long</p>' in text


# --- Evidence --------------------------------------------------------------------------


def test_an_evidence_answer_lists_its_passages_with_titles_and_truncated_quotes():
    passages = [
        {"source": "p1", "start": 0, "end": 5, "verdict": "supported", "quote": "Wires"},
        {"source": "p9", "start": 3, "end": 400, "verdict": "contradicted", "quote": "w" * 300},
    ]
    html = field_html(
        question("evidence", key="evidence"),
        value=passages,
        source_titles={"p1": f"Policy {EVIL}"},
    )
    assert (
        '<input type="hidden" name="turns.2.evidence" value="[{&quot;source&quot;:&quot;p1&quot;,'
        "&quot;start&quot;:0,&quot;end&quot;:5,&quot;verdict&quot;:&quot;supported&quot;},"
    ) in html
    assert (
        '<li class="passage verdict-supported" data-source="p1" data-start="0" data-end="5" '
        'data-verdict="supported">'
    ) in html
    assert '<span class="verdict-badge">Supported</span>' in html
    assert '<span class="verdict-badge">Contradicted</span>' in html
    assert f"Policy {ESCAPED_EVIL}, characters 0\N{EN DASH}5" in html
    assert "p9, characters 3\N{EN DASH}400" in html  # an unknown source is named by its id
    assert f'<q class="passage-quote">{"w" * 239}…</q>' in html
    assert "data-evidence-cite" in html


def test_an_evidence_question_without_sources_says_there_is_nothing_to_cite():
    html = field_html(question("evidence", key="evidence"))
    assert 'value="" data-evidence-value>' in html
    assert '<ol class="passages" data-passages>\n</ol>' in html
    assert "no source documents to cite" in html and "data-evidence-cite" not in html


# --- Escaping --------------------------------------------------------------------------


def test_user_written_prompts_help_and_options_are_escaped():
    q = question(
        "single",
        key="tone",
        prompt=f"Tone {EVIL}",
        help=f"Help {EVIL}",
        options=[{"value": 'v"><script>', "label": f"Label {EVIL}", "hotkey": ""}],
    )
    html = field_html(q)
    assert "<script>" not in html
    assert f"<legend>Tone {ESCAPED_EVIL}</legend>" in html
    assert f">Help {ESCAPED_EVIL}</p>" in html
    assert f"<span>Label {ESCAPED_EVIL}</span>" in html
    assert 'value="v&quot;&gt;&lt;script&gt;"' in html


def test_turn_text_is_escaped_in_the_raw_view_and_sanitised_in_the_markdown():
    text = f"**Bold** {EVIL} [x](javascript:alert(1))"
    html = turn_html(text=text)
    assert "<script>" not in html and "href=" not in html  # a javascript: link stays text
    markdown = '<p><strong>Bold</strong> &lt;script&gt;alert("x")&lt;/script&gt; [x](javascript:'
    raw = f'<div class="turn-raw text">**Bold** {ESCAPED_EVIL} [x](javascript:alert(1))</div>'
    assert markdown in html and raw in html


def test_tool_names_and_arguments_are_escaped():
    metadata = {"tool_calls": [{"function": {"name": EVIL, "arguments": EVIL}}]}
    html = turn_html(text="", metadata=metadata)
    assert "<script>" not in html
    assert f"<code>{ESCAPED_EVIL}</code></p>" in html and f"<pre>{ESCAPED_EVIL}</pre>" in html


# --- Turns -----------------------------------------------------------------------------


def test_a_turn_row_has_its_ids_role_and_raw_toggle():
    html = turn_html(role="user", text="Hi there")
    assert html.startswith(
        '<li class="turn-row role-user" id="turn-2" tabindex="-1" data-turn="Turn 3 (user)">'
    )
    assert '<h2 class="turn-title" id="turn-2-head"><span class="role">User</span>' in html
    assert '<span class="muted">#3</span></h2>' in html
    assert "data-raw-toggle" in html and 'class="turn-body" id="turn-2-body"' in html
    assert 'class="panel"' not in html  # no questions about this turn
    assert html.endswith("</li>\n")


def test_a_system_prompt_is_folded_away():
    html = turn_html(role="system", text="You are *kind*.")
    assert (
        '<details class="turn-text system-text"><summary>System prompt '
        '<span class="muted">(15 characters)</span></summary>'
    ) in html
    assert '<div class="turn-md md"><p>You are <em>kind</em>.</p>\n</div>' in html
    assert "show-all" not in html


def test_a_long_turn_is_collapsed_with_a_show_all_button():
    text = "word " * 300
    html = turn_html(text=text)
    assert 'class="turn-body is-long is-collapsed" id="turn-2-body"' in html
    assert (
        'data-show-all aria-expanded="false" aria-controls="turn-2-body">Show all '
        f'<span class="muted">({len(text)} characters)</span>'
    ) in html
    assert "is-long" not in turn_html(text="word " * 10)


def test_tool_calls_show_their_name_id_and_indented_arguments():
    metadata = {
        "tool_calls": [
            {"id": "call_1", "function": {"name": "lookup", "arguments": '{"account": 7}'}}
        ]
    }
    html = turn_html(text="", metadata=metadata)
    assert (
        '<p class="tool-call-name"><span class="muted">Calls</span> <code>lookup</code> '
        '<span class="muted">call_1</span></p>\n<pre>{\n  &quot;account&quot;: 7\n}</pre>'
    ) in html
    assert "turn-text" not in html and "data-raw-toggle" not in html  # no text to show


def test_a_tool_result_shows_its_tool_and_indented_json():
    html = turn_html(role="tool", text='{"balance": 12}', metadata={"name": "lookup"})
    assert '<span class="tool-name muted">result of <code>lookup</code></span>' in html
    assert '<pre class="turn-md tool-result">{\n  &quot;balance&quot;: 12\n}</pre>' in html
    assert '<div class="turn-raw text">{&quot;balance&quot;: 12}</div>' in html


def test_a_function_call_turn_shows_the_call_instead_of_its_text():
    metadata = {"original_role": "function_call", "function_call": {"name": "f", "arguments": {}}}
    html = turn_html(text='{"name": "f"}', metadata=metadata)
    assert "turn-raw" not in html and "data-raw-toggle" not in html
    assert "<code>f</code>" in html


def test_a_turn_with_questions_gets_a_labelled_panel_of_fields_in_order():
    fields = [
        Field(question=tone(), name="turns.2.tone", value=None),
        Field(question=question("text", key="why"), name="turns.2.why", value=""),
    ]
    html = turn_html(fields=fields)
    assert '<div class="panel" role="group" aria-label="Labels for turn 3">' in html
    assert html.index('id="q-turns-2-tone"') < html.index('id="q-turns-2-why"')
    assert html.index("</article>") < html.index('class="panel"')


@pytest.mark.django_db
def test_a_conversation_renders_every_turn_with_the_default_schema(project, conversation):
    questions = schema_cache.schema_questions(LabelSchema.objects.current_for(project))
    turns = list(conversation.turns.order_by("index"))
    answers = {"turns": {"2": {"factuality": "fabricated"}}, "conversation": {"overall": 4}}
    panels, conversation_fields = build_panels(questions, turns, answers)
    html = rendering.render_turns(panels)
    for turn in turns:
        assert f'id="turn-{turn.index}"' in html
    assert 'name="turns.2.factuality" value="fabricated" data-hotkey="4" checked' in html
    assert 'name="turns.1.prompt_traits"' in html and 'name="turns.0.' not in html
    fields = rendering.render_fields(conversation_fields)
    assert 'name="conversation.overall" value="4" data-hotkey="4" checked' in fields
    assert 'name="conversation.notes"' in fields


def test_markdown_of_a_text_is_rendered_once_and_long_texts_are_not_kept():
    markup._cached.cache_clear()
    text = "Some *unique* text for the cache test"
    first = markup.render_markdown(text)
    assert markup.render_markdown(text) is first
    assert markup._cached.cache_info().hits == 1
    long = "x" * (markup.CACHED_CHARS + 1)
    assert markup.render_markdown(long) == "<p>" + long + "</p>\n"
    assert markup._cached.cache_info().currsize == 1  # too long to keep


def test_a_question_is_escaped_once_however_many_turns_ask_it(monkeypatch):
    calls = []
    real_escape = rendering.escape
    monkeypatch.setattr(
        rendering, "escape", lambda value: calls.append(value) or real_escape(value)
    )
    q = tone(help="Say how it sounds")
    first = field_html(q, value="calm")
    escaped_first = len(calls)
    second = rendering.render_field(Field(question=q, name="turns.4.tone", value="rude"))
    # The second turn escapes only its own field name and id, not the options again.
    assert "Calm" in calls and calls.count("Calm") == 1
    assert len(calls) - escaped_first == 2
    # Shared markup, each field's own name and answer.
    assert 'name="turns.2.tone" value="calm" data-hotkey="1" checked' in first
    assert 'name="turns.4.tone" value="rude" data-hotkey="2" checked' in second
    assert 'name="turns.4.tone" value="calm" data-hotkey="1" aria' in second
    assert 'id="q-turns-4-tone-help">Say how it sounds</p>' in second
