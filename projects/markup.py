"""Markdown written by users, rendered to HTML that is safe to show."""

from functools import lru_cache

import nh3
from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt

# Raw HTML in the source is shown as text, and nh3 cleans the output again in any case.
_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")

# Turns and guidelines are shown on every workspace page and never change (an edit of the
# guidelines is a new text), so their HTML is kept per text. Long texts are not kept, which
# bounds what the cache holds (1,024 entries of at most 4,000 characters and their HTML).
CACHED_CHARS = 4_000


def render_markdown(text: str) -> SafeString:
    text = text or ""
    if len(text) > CACHED_CHARS:
        return _render(text)
    return _cached(text)


def _render(text: str) -> SafeString:
    html = _markdown.render(text)
    return mark_safe(nh3.clean(html, link_rel="noopener noreferrer nofollow"))


_cached = lru_cache(maxsize=1024)(_render)
