from django import template
from django.utils.safestring import SafeString

from projects.markup import render_markdown

register = template.Library()


@register.filter(is_safe=True)
def markdown(text: str) -> SafeString:
    """Markdown rendered to sanitised HTML (raw HTML in the text is shown as text)."""
    return render_markdown(text)


@register.filter
def clock(seconds: int) -> str:
    """Seconds as mm:ss (minutes keep counting past an hour)."""
    seconds = max(0, int(seconds))
    return f"{seconds // 60:02d}:{seconds % 60:02d}"
