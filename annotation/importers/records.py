"""What a parsed conversation looks like, and the checks every format shares."""

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson
from django.conf import settings

from projects.models import ROLES

_EXPECTED_ROLES = ", ".join(ROLES)


class RecordError(ValueError):
    """What is wrong with one record; the caller adds where it is."""


@dataclass(slots=True)
class TurnData:
    role: str
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class ConversationData:
    external_id: str | None
    turns: list[TurnData]
    metadata: dict[str, Any] = field(default_factory=dict)
    _hash: str | None = field(default=None, init=False, repr=False, compare=False)

    def content_hash(self) -> str:
        if self._hash is None:
            self._hash = self._compute_hash()
        return self._hash

    def _compute_hash(self) -> str:
        # The turns with everything on them (tool calls, rejected replies, ranks) count; the
        # conversation's own metadata (batch names, tags) does not, so re-importing a file
        # with a new tag still finds the conversations already there.
        payload = orjson.dumps(
            [[t.role, t.text, t.metadata] for t in self.turns], option=orjson.OPT_SORT_KEYS
        )
        return hashlib.sha256(payload).hexdigest()

    def text_hash(self) -> str:
        """A fingerprint of the turns' roles and texts only: the same conversation in another
        export form (its turns carrying more or less metadata) has the same one."""
        return turns_text_hash((t.role, t.text) for t in self.turns)


def turns_text_hash(turns: Iterable[tuple[str, str]]) -> str:
    """ConversationData.text_hash of (role, text) pairs, e.g. of turns already stored."""
    return hashlib.sha256(orjson.dumps([[role, text] for role, text in turns])).hexdigest()


@dataclass
class Problem:
    """A bad record: `line` in a JSON Lines file, or `record` (0-based) in a JSON array."""

    line: int | None
    message: str
    record: int | None = None

    def as_dict(self) -> dict[str, Any]:
        if self.record is not None:
            return {"record": self.record, "message": self.message}
        return {"line": self.line, "message": self.message}


def describe_problem(problem: dict[str, Any]) -> str:
    """ "line 7: ...", "record 3: ..." or just the message, from Problem.as_dict()."""
    if problem.get("record") is not None:
        return f"record {problem['record']}: {problem['message']}"
    if problem.get("line") is not None:
        return f"line {problem['line']}: {problem['message']}"
    return problem["message"]


def check_text(text: Any, where: str) -> str:
    if not isinstance(text, str):
        raise RecordError(f"{where}: text must be a string, got {type(text).__name__}")
    if "\x00" in text:
        # PostgreSQL cannot store NUL in text; refuse it everywhere so both databases agree.
        raise RecordError(f"{where}: text contains a NUL character")
    limit = settings.IMPORT_MAX_CHARS_PER_TURN
    if len(text) > limit:
        raise RecordError(
            f"{where}: text has {len(text):,} characters, more than the limit {limit:,}"
        )
    return text


def check_role(role: Any, where: str) -> str:
    if role is None:
        raise RecordError(f'{where}: missing "role"')
    if not isinstance(role, str) or role not in ROLES:
        raise RecordError(f'{where}: unknown role "{role}" (expected {_EXPECTED_ROLES})')
    return role


def check_turn_count(turns: list) -> None:
    if not turns:
        raise RecordError("a conversation needs at least one turn")
    limit = settings.IMPORT_MAX_TURNS_PER_CONVERSATION
    if len(turns) > limit:
        raise RecordError(f"a conversation has {len(turns):,} turns, more than the limit {limit:,}")


def external_id(value: Any, key: str = "id") -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise RecordError(f'"{key}" must be a string or an integer')
    value = str(value).strip()
    if not value:
        raise RecordError(f'"{key}" is empty')
    if len(value) > 255:
        raise RecordError(f'"{key}" is longer than 255 characters')
    return value


def json_object(value: Any, where: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise RecordError(f"{where} must be an object")
    # NUL characters are refused for the whole record at once (base.check_storable).
    return value


def nul_path(value: Any, path: str = "") -> str | None:
    """Where in a JSON value a NUL character stands ("a.b[2]"), or None."""
    if isinstance(value, str):
        return path if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            inner = f"{path}.{key}" if path else key
            if "\x00" in key:
                return inner
            found = nul_path(item, inner)
            if found is not None:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = nul_path(item, f"{path}[{index}]")
            if found is not None:
                return found
    return None
