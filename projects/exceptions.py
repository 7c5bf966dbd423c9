"""Errors raised by services. Views and the API turn them into pages and status codes.

`status` is the HTTP status both give: the API through config.api_errors, the pages through
config.middleware (a refusal or a missing object) or the view that renders the form again.
"""


class ServiceError(Exception):
    """A business rule refused the action; `message` is shown to the user as is."""

    code = "invalid"
    status = 400

    def __init__(self, message: str, *, errors: list | dict | None = None):
        super().__init__(message)
        self.message = message
        self.errors = errors

    def as_dict(self) -> dict:
        body: dict = {"detail": self.message, "code": self.code}
        if self.errors is not None:
            body["errors"] = self.errors
        return body


class InvalidInput(ServiceError):
    code = "invalid"


class NotAllowed(ServiceError):
    code = "forbidden"
    status = 403


class NotFound(ServiceError):
    code = "not_found"
    status = 404


class Conflict(ServiceError):
    code = "conflict"
    status = 409
