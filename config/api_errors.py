from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from projects.exceptions import ServiceError

_STATUS = {
    "invalid": status.HTTP_400_BAD_REQUEST,
    "forbidden": status.HTTP_403_FORBIDDEN,
    "not_found": status.HTTP_404_NOT_FOUND,
    "conflict": status.HTTP_409_CONFLICT,
}


def exception_handler(exc, context):
    """Turn a service's refusal into a JSON error with the matching status code."""
    if isinstance(exc, ServiceError):
        return Response(exc.as_dict(), status=_STATUS[exc.code])
    return drf_exception_handler(exc, context)
