"""Errors raised by services. Views and the API turn them into pages and status codes."""


class ServiceError(Exception):
    """A business rule refused the action; `message` is shown to the user as is."""

    code = "invalid"

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


class NotFound(ServiceError):
    code = "not_found"


class Conflict(ServiceError):
    code = "conflict"
