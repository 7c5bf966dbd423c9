"""Errors raised by annotation services (see projects.exceptions for the base classes)."""

from projects.exceptions import Conflict, InvalidInput, NotAllowed, NotFound, ServiceError

__all__ = [
    "Conflict",
    "ImportFailed",
    "InvalidAnswers",
    "InvalidInput",
    "MissingRequired",
    "NotAllowed",
    "NotFound",
    "ServiceError",
    "StaleVersion",
]


class StaleVersion(Conflict):
    def __init__(self, current_version: int):
        super().__init__(
            "This annotation was changed elsewhere (another tab or device) since you loaded it. "
            "Reload to see the latest version; your last change was not saved.",
        )
        self.current_version = current_version

    def as_dict(self) -> dict:
        return {**super().as_dict(), "code": "stale_version", "version": self.current_version}


class InvalidAnswers(InvalidInput):
    """`errors` maps an answer's path ("turns.3.factuality") to what is wrong with it."""


class MissingRequired(InvalidInput):
    def __init__(self, missing: list[str]):
        super().__init__(
            f"{len(missing)} required answer{'s are' if len(missing) != 1 else ' is'} missing; "
            "nothing was submitted.",
            errors=missing,
        )
        self.missing = missing

    def as_dict(self) -> dict:
        return {"detail": self.message, "code": "missing_required", "missing": self.missing}


class ImportFailed(InvalidInput):
    """`errors` is a list of {"line", "message"}; nothing was written."""
