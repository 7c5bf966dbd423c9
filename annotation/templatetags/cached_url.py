"""`{% url %}` that keeps what it reversed: load it (`{% load cached_url %}`) and the
template's url tags are this one, with the same syntax and output.

Django reverses a URL anew at every use, some 40 microseconds each; the workspace page
and the base template it extends use ten, on every page load and every htmx swap of the
page. URLs only change with the URLconf, so each (URLconf, script prefix, name, args) is
reversed once per process. Keyword arguments and unhashable arguments take Django's path.
"""

from django import template
from django.template import defaulttags
from django.urls import NoReverseMatch
from django.utils.html import conditional_escape

from config.templating import cached_reverse

register = template.Library()


class CachedURLNode(defaulttags.URLNode):
    def render(self, context: template.Context) -> str:
        if self.kwargs:
            return super().render(context)
        args = tuple(arg.resolve(context) for arg in self.args)
        request = context.get("request")
        current_app = None
        if request is not None:
            current_app = getattr(request, "current_app", None)
            if current_app is None and getattr(request, "resolver_match", None):
                current_app = request.resolver_match.namespace
        name = self.view_name.resolve(context)
        try:
            url = cached_reverse(name, *args, current_app=current_app)
        except TypeError:  # an argument that cannot be a key
            return super().render(context)
        except NoReverseMatch:
            if not self.asvar:
                raise
            url = ""  # as Django's: `{% url ... as var %}` fails quietly
        if self.asvar:
            context[self.asvar] = url
            return ""
        return conditional_escape(url) if context.autoescape else url


@register.tag
def url(parser: template.base.Parser, token: template.base.Token) -> CachedURLNode:
    """Django's {% url %}, parsed by Django, reversed once per process."""
    node = defaulttags.url(parser, token)
    return CachedURLNode(node.view_name, node.args, node.kwargs, node.asvar)
