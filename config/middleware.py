from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest

from projects.exceptions import NotAllowed, NotFound


class ServiceErrorMiddleware:
    """A page whose service says "no such thing" or "not yours" answers 404 or 403.

    Views still catch the refusals they answer with a form shown again; the API answers
    every ServiceError itself (config.api_errors), so none reaches here.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest):
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> None:
        if isinstance(exception, NotFound):
            raise Http404(exception.message) from exception
        if isinstance(exception, NotAllowed):
            raise PermissionDenied(exception.message) from exception
