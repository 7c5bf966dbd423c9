"""Markdown written by users, rendered to HTML that is safe to show."""

import nh3
from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt

# Raw HTML in the source is shown as text, and nh3 cleans the output again in any case.
_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")


def render_markdown(text: str) -> SafeString:
    html = _markdown.render(text or "")
    return mark_safe(nh3.clean(html, link_rel="noopener noreferrer nofollow"))
