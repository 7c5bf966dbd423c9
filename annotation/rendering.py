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
from dataclasses import dataclass
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


ROLE_LABELS = {role: escape(label) for role, label in Turn.Role.choices}


def render_turns(panels: list[TurnPanel]) -> SafeString:
    """The items of the workspace's `<ol class="turns">`."""
    return mark_safe("".join(_turn_html(panel) for panel in panels))


def render_turn(panel: TurnPanel) -> SafeString:
    """One `<li class="turn-row">`: the turn's text, its tool calls and its questions."""
    return mark_safe(_turn_html(panel))


# Each piece is a plain str until the end: mark_safe is lazy-aware, so costs a call per use.
def _turn_html(panel: TurnPanel) -> str:
    turn = panel.turn
    index, number, role = turn.index, turn.index + 1, escape(turn.role)
    role_label = ROLE_LABELS.get(turn.role) or role
    show_text = bool(turn.text) and not panel.text_is_call
    parts = [
        f'<li class="turn-row role-{role}" id="turn-{index}" tabindex="-1" '
        f'data-turn="Turn {number} ({role})">\n'
        f'<article class="turn" aria-labelledby="turn-{index}-head">\n'
        '<header class="turn-head">\n'
        f'<h2 class="turn-title" id="turn-{index}-head"><span class="role">'
        f'{role_label}</span> <span class="muted">#{number}</span></h2>\n'
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
        parts.extend(_field_html(field) for field in panel.fields)
        parts.append("</div>")
    parts.append("\n</li>\n")
    return "".join(parts)


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
    return mark_safe("".join(_field_html(field) for field in fields))


@dataclass(frozen=True)
class _Chip:
    """One option as every turn shows it, escaped once: the markup after `name="`."""

    value: str
    unchecked: str
    checked: str


@dataclass(frozen=True)
class _QuestionHtml:
    """What a question shows the same way on every turn, escaped once per question."""

    kind: str
    key: str
    label: str  # the prompt, with the required mark
    help: str  # escaped, or ""
    head: str  # a chip's markup up to its input's name
    chips: tuple[_Chip, ...]


def _question_html(q: Question) -> _QuestionHtml:
    """The question's escaped parts, kept on the instance: a schema in use is cached with
    its questions (projects.cache), so a process escapes each option once, not once per
    turn and request (a 60-turn page has thousands of them)."""
    kept = q.__dict__.get("_html")
    if kept is None:
        kept = q.__dict__["_html"] = _build_question_html(q)
    return kept


def _build_question_html(q: Question) -> _QuestionHtml:
    head, chips = "", []
    if q.kind in Question.CHOICE_KINDS:
        input_type = "checkbox" if q.kind == Question.Kind.MULTI else "radio"
        head = f'<label class="chip">\n<input type="{input_type}" name="'
        for option in q.options:
            hotkey = escape(option.get("hotkey") or "")
            value = escape(option.get("value", ""))
            label = f"<span>{escape(option.get('label', ''))}</span>"
            if hotkey:
                before, after = f' data-hotkey="{hotkey}"', f' aria-keyshortcuts="{hotkey}"'
                kbd = f'<kbd aria-hidden="true">{hotkey}</kbd>'
            else:
                before, after, kbd = "", "", ""
            chips.append(
                _Chip(
                    option.get("value"),
                    f'" value="{value}"{before}{after}>\n{label}{kbd}\n</label>\n',
                    f'" value="{value}"{before} checked{after}>\n{label}{kbd}\n</label>\n',
                )
            )
    elif q.kind == Question.Kind.BOOLEAN:
        head = '<label class="chip"><input type="radio" name="'
        for value, label, hotkey in (("true", "Yes", "1"), ("false", "No", "2")):
            before = f'" value="{value}" data-hotkey="{hotkey}"'
            after = (
                f' aria-keyshortcuts="{hotkey}"><span>{label}</span>'
                f'<kbd aria-hidden="true">{hotkey}</kbd></label>\n'
            )
            chips.append(_Chip(value, before + after, f"{before} checked{after}"))
    elif q.kind == Question.Kind.RATING:
        head = '<label class="chip"><input type="radio" name="'
        for n in range(q.rating_min, q.rating_max + 1):
            before = f'" value="{n}" data-hotkey="{n}"'
            after = f"><span>{n}</span></label>\n"
            chips.append(_Chip(str(n), before + after, f"{before} checked{after}"))
    return _QuestionHtml(
        kind=escape(q.kind),
        key=escape(q.key),
        label=escape(q.prompt) + (REQUIRED if q.required else ""),
        help=escape(q.help) if q.help else "",
        head=head,
        chips=tuple(chips),
    )


def render_field(field: Field) -> SafeString:
    """One question's input: a text box, or a fieldset of chips or passages."""
    return mark_safe(_field_html(field))


def _field_html(field: Field) -> str:
    q = field.question
    shown = _question_html(q)
    if q.kind in (Question.Kind.TEXT, Question.Kind.REWRITE):
        return _text_field(field, shown)
    dom_id = escape(field.dom_id)
    error_class = " has-error" if field.error else ""
    described = f' aria-describedby="{dom_id}-help"' if q.help else ""
    parts = [
        f'\n<fieldset class="field field-{shown.kind}{error_class}" id="{dom_id}" '
        f'data-question="{shown.key}" tabindex="-1"{described}>\n'
        f"<legend>{shown.label}</legend>\n",
        _help(dom_id, shown),
        "\n",
    ]
    if q.kind == Question.Kind.EVIDENCE:
        parts.append(_evidence(field))
    elif shown.head:
        parts.append(_chips(field, shown))
    parts.append(f"\n{_error(field)}\n</fieldset>\n")
    return "".join(parts)


def _help(dom_id: str, shown: _QuestionHtml) -> str:
    if not shown.help:
        return ""
    return f'<p class="help" id="{dom_id}-help">{shown.help}</p>'


def _error(field: Field) -> str:
    return f'<p class="error">{escape(field.error)}</p>' if field.error else ""


def _text_field(field: Field, shown: _QuestionHtml) -> str:
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
        f'\n<div class="field field-{shown.kind}{" has-error" if field.error else ""}" '
        f'id="{dom_id}" data-question="{shown.key}" tabindex="-1">\n'
        f'<label class="field-label" for="{dom_id}-input">{shown.label}</label>\n'
        f"{_help(dom_id, shown)}\n"
        f'<textarea name="{escape(field.name)}" id="{dom_id}-input" rows="{rows}"{attributes}>\n'
        f"{escape(field.text)}</textarea>\n"
        f"{tools}\n{_error(field)}\n</div>\n"
    )


def _chips(field: Field, shown: _QuestionHtml) -> str:
    """A choice, yes/no or rating question's chips, the field's answers checked, and for
    all but a multiple choice a last chip to clear the answer."""
    name = escape(field.name)
    selected = field.selected
    head = shown.head
    parts = ['<div class="options">\n']
    for chip in shown.chips:
        parts += (head, name, chip.checked if chip.value in selected else chip.unchecked)
    if field.question.kind != Question.Kind.MULTI:
        checked = "" if selected else " checked"
        parts.append(
            f'<label class="chip chip-clear"><input type="radio" name="{name}" '
            f'value=""{checked}>{NO_ANSWER}</label>'
        )
    parts.append("\n</div>")
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
