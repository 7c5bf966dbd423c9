from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from projects.exceptions import ServiceError


def exception_handler(exc, context):
    """Turn a service's refusal into a JSON error with the matching status code."""
    if isinstance(exc, ServiceError):
        return Response(exc.as_dict(), status=exc.status)
    return drf_exception_handler(exc, context)
