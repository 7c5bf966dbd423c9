"""The workspace's turn list and fields, rendered by `annotation.rendering`."""

from django import template
from django.utils.safestring import SafeString

from annotation import rendering
from annotation.forms import Field, TurnPanel

register = template.Library()


@register.filter(is_safe=True)
def render_turns(panels: list[TurnPanel]) -> SafeString:
    """Each turn as an `<li class="turn-row">` with its questions."""
    return rendering.render_turns(panels)


@register.filter(is_safe=True)
def render_fields(fields: list[Field]) -> SafeString:
    """Each question's input, e.g. the questions about the whole conversation."""
    return rendering.render_fields(fields)
