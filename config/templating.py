"""What templates share: URLs reversed once per process, and the Jinja2 environment of the
pages Jinja2 renders (jinja2/: the annotator's workspace, the page an expert spends the
day on and reloads with every conversation).

Django's template language renders the workspace's frame (menus, forms, the header) in
about 1 ms; compiled by Jinja2 it takes a fifth of that, which is what brought the page
within twice a trivial view's time (issue #5). The other pages stay in templates/.
"""

from functools import lru_cache
from typing import Any

from django.conf import settings
from django.contrib.messages import get_messages
from django.http import HttpRequest
from django.middleware.csrf import get_token
from django.templatetags.static import static
from django.urls import get_script_prefix, get_urlconf, reverse
from django.utils.functional import SimpleLazyObject
from django.utils.html import format_html, json_script

from annotation.rendering import escape
from annotation.templatetags.markdown import clock, markdown
from annotation.templatetags.workspace import render_fields, render_turns
from jinja2 import ChainableUndefined, Environment


@lru_cache(maxsize=4096)
def _reverse(urlconf: str, prefix: str, name: str, args: tuple, current_app: str | None) -> str:
    return reverse(name, urlconf=urlconf, args=args, current_app=current_app)


def cached_reverse(name: str, *args: Any, current_app: str | None = None) -> str:
    """reverse(name, args=args), kept per URLconf, script prefix, name and arguments: URLs
    only change with the URLconf, and Django reverses anew each time (some 40 us)."""
    urlconf = get_urlconf() or settings.ROOT_URLCONF
    return _reverse(urlconf, get_script_prefix(), name, args, current_app)


def csrf(request: HttpRequest) -> dict[str, SimpleLazyObject]:
    """A context processor: the CSRF token masked once per page, when first shown. Django's
    Jinja2 backend passes lazy values that mask it anew at each use (32 random characters
    from the system's generator each time; the workspace uses it six times), and a page
    that shows none (an autosave's answer) should not mask it at all."""
    token = SimpleLazyObject(lambda: get_token(request))
    field = SimpleLazyObject(
        lambda: format_html('<input type="hidden" name="csrfmiddlewaretoken" value="{}">', token)
    )
    return {"csrf_token": token, "csrf_input": field}


def pluralize(count: int) -> str:
    return "" if count == 1 else "s"


def environment(**options: Any) -> Environment:
    """The Jinja2 environment (settings.TEMPLATES): Django's helpers under the names the
    Django templates use. As in Django's templates, every value shown is escaped with the
    same entities and SafeStrings are kept as they are (annotation.rendering.escape, Django's
    conditional_escape without its lazy-string wrapper), and a chain through a missing value
    is empty (`flag_form.data.kind` with no form)."""
    env = Environment(
        **{
            **options,
            "autoescape": False,
            "finalize": escape,
            "undefined": ChainableUndefined,
        }
    )
    env.globals.update(
        url=cached_reverse, static=static, json_script=json_script, get_messages=get_messages
    )
    env.filters.update(
        markdown=markdown,
        clock=clock,
        render_turns=render_turns,
        render_fields=render_fields,
        pluralize=pluralize,
    )
    return env
