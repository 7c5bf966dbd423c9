"""The workspace's turn list and question fields, rendered in Python.

A conversation shows every turn with a field per question, and each choice field a chip
per option. Rendered through an included template per field, that was most of the page's
server time (about 25 ms for 13 turns); string joins take a small part of that. The HTML
is the same the templates gave, element for element, since workspace.js, the CSS and the
tests select on its ids, classes, names and data-* attributes.

Every value that comes from a user (turn text, prompts, help, option labels and values,
source titles, quotes, tool names and arguments) goes through `escape`; turn Markdown goes
through `render_markdown`, which sanitises it (and keeps it per text).
"""

import html
from collections.abc import Mapping
from typing import Any

from django.utils.safestring import SafeString, mark_safe
from django.utils.text import Truncator, capfirst

from annotation.forms import Field, TurnPanel
from annotation.models import Turn
from projects.markup import render_markdown
from projects.models import Question

QUOTE_CHARS = 240
REQUIRED = ' <span class="required" title="required">*</span>'
NO_ANSWER = '<span>—</span><span class="visually-hidden">No answer</span>'


def escape(value: Any) -> str:
    """django.utils.html.conditional_escape, without the lazy-string wrapper that made it
    most of the render time (a conversation has thousands of values to escape)."""
    if hasattr(value, "__html__"):
        return value.__html__()
    return html.escape(str(value))


def render_turns(panels: list[TurnPanel]) -> SafeString:
    """The items of the workspace's `<ol class="turns">`."""
    return mark_safe("".join(render_turn(panel) for panel in panels))


def render_turn(panel: TurnPanel) -> SafeString:
    """One `<li class="turn-row">`: the turn's text, its tool calls and its questions."""
    turn = panel.turn
    index, number, role = turn.index, turn.index + 1, escape(turn.role)
    show_text = bool(turn.text) and not panel.text_is_call
    parts = [
        f'<li class="turn-row role-{role}" id="turn-{index}" tabindex="-1" '
        f'data-turn="Turn {number} ({role})">\n'
        f'<article class="turn" aria-labelledby="turn-{index}-head">\n'
        '<header class="turn-head">\n'
        f'<h2 class="turn-title" id="turn-{index}-head"><span class="role">'
        f'{escape(turn.get_role_display())}</span> <span class="muted">#{number}</span></h2>\n'
    ]
    if turn.role == Turn.Role.TOOL and panel.tool_name:
        parts.append(
            f'<span class="tool-name muted">result of <code>{escape(panel.tool_name)}</code></span>'
        )
    parts.append("\n")
    if show_text:
        parts.append(
            '<button type="button" class="link-button raw-button" data-raw-toggle '
            'aria-pressed="false">Raw<span class="visually-hidden"> text of turn '
            f"{number}</span></button>"
        )
    parts.append("\n</header>\n")
    if show_text:
        parts.append(_turn_text(panel))
    parts.append("\n")
    calls = panel.tool_calls
    if calls:
        parts.append('<div class="tool-calls">\n')
        for call in calls:
            call_id = f' <span class="muted">{escape(call.id)}</span>' if call.id else ""
            parts.append(
                '<div class="tool-call">\n'
                f'<p class="tool-call-name"><span class="muted">Calls</span> '
                f"<code>{escape(call.name)}</code>{call_id}</p>\n"
                f"<pre>{escape(call.arguments)}</pre>\n"
                "</div>\n"
            )
        parts.append("</div>")
    parts.append("\n</article>\n")
    if panel.fields:
        parts.append(f'<div class="panel" role="group" aria-label="Labels for turn {number}">\n')
        parts.extend(render_field(field) for field in panel.fields)
        parts.append("</div>")
    parts.append("\n</li>\n")
    return mark_safe("".join(parts))


def _turn_text(panel: TurnPanel) -> str:
    turn = panel.turn
    raw = f'<div class="turn-raw text">{escape(turn.text)}</div>'
    length = len(turn.text)
    if turn.role == Turn.Role.SYSTEM:
        return (
            '<details class="turn-text system-text"><summary>System prompt '
            f'<span class="muted">({length} characters)</span></summary>\n'
            f'<div class="turn-body"><div class="turn-md md">{render_markdown(turn.text)}</div>'
            f"{raw}</div>\n"
            "</details>"
        )
    index = turn.index
    tool_result = panel.tool_result
    if tool_result is not None:
        shown = f'<pre class="turn-md tool-result">{escape(tool_result)}</pre>'
    else:
        shown = f'<div class="turn-md md">{render_markdown(turn.text)}</div>'
    long = panel.is_long
    show_all = (
        '<button type="button" class="link-button show-all" data-show-all '
        f'aria-expanded="false" aria-controls="turn-{index}-body">Show all '
        f'<span class="muted">({length} characters)</span></button>'
        if long
        else ""
    )
    return (
        '<div class="turn-text">\n'
        f'<div class="turn-body{" is-long is-collapsed" if long else ""}" id="turn-{index}-body">\n'
        f"{shown}\n{raw}\n</div>\n{show_all}\n</div>"
    )


def render_fields(fields: list[Field]) -> SafeString:
    """Fields one after another, as the conversation panel shows them."""
    return mark_safe("".join(render_field(field) for field in fields))


def render_field(field: Field) -> SafeString:
    """One question's input: a text box, or a fieldset of chips or passages."""
    q = field.question
    if q.kind in (Question.Kind.TEXT, Question.Kind.REWRITE):
        return mark_safe(_text_field(field))
    dom_id = escape(field.dom_id)
    error_class = " has-error" if field.error else ""
    described = f' aria-describedby="{dom_id}-help"' if q.help else ""
    parts = [
        f'\n<fieldset class="field field-{escape(q.kind)}{error_class}" id="{dom_id}" '
        f'data-question="{escape(q.key)}" tabindex="-1"{described}>\n'
        f"<legend>{escape(q.prompt)}{REQUIRED if q.required else ''}</legend>\n",
        _help(field),
        "\n",
    ]
    if q.kind in Question.CHOICE_KINDS:
        parts.append(_choices(field))
    elif q.kind == Question.Kind.BOOLEAN:
        parts.append(_boolean(field))
    elif q.kind == Question.Kind.RATING:
        parts.append(_rating(field))
    elif q.kind == Question.Kind.EVIDENCE:
        parts.append(_evidence(field))
    parts.append(f"\n{_error(field)}\n</fieldset>\n")
    return mark_safe("".join(parts))


def _help(field: Field) -> str:
    q = field.question
    if not q.help:
        return ""
    return f'<p class="help" id="{escape(field.dom_id)}-help">{escape(q.help)}</p>'


def _error(field: Field) -> str:
    return f'<p class="error">{escape(field.error)}</p>' if field.error else ""


def _text_field(field: Field) -> str:
    q = field.question
    dom_id = escape(field.dom_id)
    rewrite = q.kind == Question.Kind.REWRITE and field.original is not None
    attributes = f' aria-describedby="{dom_id}-help"' if q.help else ""
    if rewrite:
        attributes += f' data-original="{escape(field.original)}"'
    tools = (
        '\n<div class="rewrite-tools">\n'
        '<span class="rewrite-summary muted" data-rewrite-summary>Starts from the reply; '
        "edit it to correct it.</span>\n"
        '<button type="button" class="link-button" data-rewrite-reset>Reset to the original'
        "</button>\n</div>\n"
        '<div class="rewrite-diff" data-rewrite-diff hidden></div>\n'
        if rewrite
        else ""
    )
    rows = 5 if q.kind == Question.Kind.REWRITE else 2
    # The line break after <textarea> is dropped by the parser; it keeps a leading one of
    # the text.
    return (
        f'\n<div class="field field-{escape(q.kind)}{" has-error" if field.error else ""}" '
        f'id="{dom_id}" data-question="{escape(q.key)}" tabindex="-1">\n'
        f'<label class="field-label" for="{dom_id}-input">{escape(q.prompt)}'
        f"{REQUIRED if q.required else ''}</label>\n"
        f"{_help(field)}\n"
        f'<textarea name="{escape(field.name)}" id="{dom_id}-input" rows="{rows}"{attributes}>\n'
        f"{escape(field.text)}</textarea>\n"
        f"{tools}\n{_error(field)}\n</div>\n"
    )


def _clear_chip(name: str, selected: set[str]) -> str:
    checked = "" if selected else " checked"
    return (
        f'<label class="chip chip-clear"><input type="radio" name="{name}" value=""{checked}>'
        f"{NO_ANSWER}</label>"
    )


def _choices(field: Field) -> str:
    q = field.question
    name = escape(field.name)
    selected = field.selected
    input_type = "checkbox" if q.kind == Question.Kind.MULTI else "radio"
    parts = ['<div class="options">\n']
    for option in q.options:
        hotkey = escape(option.get("hotkey") or "")
        checked = " checked" if option.get("value") in selected else ""
        if hotkey:
            attributes = f' data-hotkey="{hotkey}"{checked} aria-keyshortcuts="{hotkey}"'
            kbd = f'<kbd aria-hidden="true">{hotkey}</kbd>'
        else:
            attributes, kbd = checked, ""
        parts.append(
            '<label class="chip">\n'
            f'<input type="{input_type}" name="{name}" '
            f'value="{escape(option.get("value", ""))}"{attributes}>\n'
            f"<span>{escape(option.get('label', ''))}</span>{kbd}\n"
            "</label>\n"
        )
    if q.kind == Question.Kind.SINGLE:
        parts.append(_clear_chip(name, selected))
    parts.append("\n</div>")
    return "".join(parts)


def _boolean(field: Field) -> str:
    name = escape(field.name)
    selected = field.selected
    parts = ['<div class="options">\n']
    for value, label, hotkey in (("true", "Yes", "1"), ("false", "No", "2")):
        checked = " checked" if value in selected else ""
        parts.append(
            f'<label class="chip"><input type="radio" name="{name}" value="{value}" '
            f'data-hotkey="{hotkey}"{checked} aria-keyshortcuts="{hotkey}"><span>{label}</span>'
            f'<kbd aria-hidden="true">{hotkey}</kbd></label>\n'
        )
    parts.append(f"{_clear_chip(name, selected)}\n</div>")
    return "".join(parts)


def _rating(field: Field) -> str:
    name = escape(field.name)
    selected = field.selected
    parts = ['<div class="options">\n']
    for n in field.rating_values:
        checked = " checked" if str(n) in selected else ""
        parts.append(
            f'<label class="chip"><input type="radio" name="{name}" value="{n}" '
            f'data-hotkey="{n}"{checked}><span>{n}</span></label>\n'
        )
    parts.append(f"{_clear_chip(name, selected)}\n</div>")
    return "".join(parts)


def _evidence(field: Field) -> str:
    parts = [
        f'<input type="hidden" name="{escape(field.name)}" value="{escape(field.evidence_json)}" '
        "data-evidence-value>\n"
        '<ol class="passages" data-passages>\n'
    ]
    parts.extend(_passage(passage) for passage in field.passages)
    parts.append("</ol>\n")
    if field.source_titles:
        parts.append(
            '<p class="help evidence-help">Select text in a source, then choose a verdict.</p>\n'
            '<button type="button" class="button button-small" data-evidence-cite>'
            "Cite a passage</button>"
        )
    else:
        parts.append(
            '<p class="help evidence-help">This conversation has no source documents to cite.</p>'
        )
    return "".join(parts)


def _passage(passage: Mapping[str, Any]) -> str:
    # As a template would show them: a missing key as nothing, None as "None".
    source, start, end, verdict, title = (
        escape(passage.get(key, "")) for key in ("source", "start", "end", "verdict", "title")
    )
    quote = Truncator(str(passage.get("quote", ""))).chars(QUOTE_CHARS)
    badge = capfirst(str(passage.get("verdict", "")))
    return (
        f'<li class="passage verdict-{verdict}" data-source="{source}" data-start="{start}" '
        f'data-end="{end}" data-verdict="{verdict}">\n'
        f'<span class="verdict-badge">{escape(badge)}</span>\n'
        f'<q class="passage-quote">{escape(quote)}</q>\n'
        f'<span class="passage-source muted">{title}, characters {start}\N{EN DASH}{end}</span>\n'
        '<button type="button" class="link-button" data-passage-remove>Remove'
        '<span class="visually-hidden"> this passage</span></button>\n'
        "</li>\n"
    )
