"""Read conversation files into plain records, one line at a time.

Each parser turns one decoded JSON record into a `ConversationData` or raises `RecordError`
with a message a user can act on. Nothing here touches the database: `services` writes.
"""

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

import orjson
from django.conf import settings

from projects.models import ROLES

FORMATS = ("native", "openai")
_EXPECTED_ROLES = ", ".join(ROLES)


class RecordError(ValueError):
    """What is wrong with one record; the caller adds the line number."""


@dataclass
class TurnData:
    role: str
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class ConversationData:
    external_id: str | None
    turns: list[TurnData]
    metadata: dict[str, Any] = field(default_factory=dict)

    def content_hash(self) -> str:
        # Tool calls are content too: two records asking different tools are different.
        payload = orjson.dumps(
            [
                [t.role, t.text, t.metadata.get("tool_calls"), t.metadata.get("function_call")]
                for t in self.turns
            ],
            option=orjson.OPT_SORT_KEYS,
        )
        return hashlib.sha256(payload).hexdigest()


@dataclass
class Problem:
    line: int
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"line": self.line, "message": self.message}


def read_json_lines(stream: IO[bytes]) -> Iterator[tuple[int, Any]]:
    """Yield (line number, decoded JSON) per non-blank line; bad lines yield a Problem."""
    for number, raw in enumerate(stream, start=1):
        if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        line = raw.strip()
        if not line:
            continue
        try:
            yield number, orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            yield number, Problem(number, f"invalid JSON: {_json_reason(exc, line)}")


def _json_reason(exc: orjson.JSONDecodeError, line: bytes) -> str:
    try:
        line.decode("utf-8")
    except UnicodeDecodeError as decode_error:
        return f"not valid UTF-8 (byte {decode_error.start + 1} of the line)"
    return f"{exc.msg} (column {exc.colno})"


def detect_format(record: Any) -> str:
    """Name the format of a decoded record, or raise RecordError saying why not."""
    if isinstance(record, dict):
        if isinstance(record.get("turns"), list):
            return "native"
        if isinstance(record.get("messages"), list):
            return "openai"
    raise RecordError(
        'cannot tell the format: expected a JSON object with a "turns" list (native) '
        'or a "messages" list (OpenAI chat)'
    )


def _check_text(text: Any, where: str) -> str:
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


def _check_role(role: Any, where: str) -> str:
    if role is None:
        raise RecordError(f'{where}: missing "role"')
    if not isinstance(role, str) or role not in ROLES:
        raise RecordError(f'{where}: unknown role "{role}" (expected {_EXPECTED_ROLES})')
    return role


def _check_turn_count(turns: list) -> None:
    if not turns:
        raise RecordError("a conversation needs at least one turn")
    limit = settings.IMPORT_MAX_TURNS_PER_CONVERSATION
    if len(turns) > limit:
        raise RecordError(f"a conversation has {len(turns):,} turns, more than the limit {limit:,}")


def _external_id(record: dict) -> str | None:
    value = record.get("id")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise RecordError('"id" must be a string or an integer')
    value = str(value).strip()
    if not value:
        raise RecordError('"id" is empty')
    if len(value) > 255:
        raise RecordError('"id" is longer than 255 characters')
    return value


def _object(value: Any, where: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise RecordError(f"{where} must be an object")
    if _has_nul(value):
        raise RecordError(f"{where} contains a NUL character")
    return value


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def parse_native(record: Any) -> ConversationData:
    """{"id"?, "turns": [{"role", "text", "metadata"?}], "metadata"?, ...}"""
    if not isinstance(record, dict):
        raise RecordError("expected a JSON object")
    turns = record.get("turns")
    if not isinstance(turns, list):
        raise RecordError('missing "turns" (a list of {"role", "text"})')
    _check_turn_count(turns)
    parsed = []
    for position, turn in enumerate(turns, start=1):
        where = f"turn {position}"
        if not isinstance(turn, dict):
            raise RecordError(f"{where}: expected an object with role and text")
        if "text" not in turn:
            raise RecordError(f'{where}: missing "text"')
        parsed.append(
            TurnData(
                role=_check_role(turn.get("role"), where),
                text=_check_text(turn["text"], where),
                metadata=_object(turn.get("metadata"), f"{where}: metadata"),
            )
        )
    metadata = dict(_object(record.get("metadata"), '"metadata"'))
    # Keep whatever else the record carries, so nothing a user brought is dropped.
    for key, value in record.items():
        if key not in ("id", "turns", "metadata"):
            metadata.setdefault(key, value)
    return ConversationData(external_id=_external_id(record), turns=parsed, metadata=metadata)


def _is_text_part(part: Any) -> bool:
    return isinstance(part, str) or (isinstance(part, dict) and isinstance(part.get("text"), str))


def _content_text(content: Any, where: str) -> str:
    if content is None:
        return ""
    if isinstance(content, list):
        parts = [p if isinstance(p, str) else p["text"] for p in content if _is_text_part(p)]
        return _check_text("\n".join(parts), where)
    return _check_text(content, where)


_OPENAI_ROLES = ("system", "developer", "user", "assistant", "tool", "function")


def parse_openai(record: Any) -> ConversationData:
    """{"messages": [{"role", "content", ...}], "tools"?, ...} (OpenAI chat fine-tuning)."""
    if not isinstance(record, dict):
        raise RecordError("expected a JSON object")
    messages = record.get("messages")
    if not isinstance(messages, list):
        raise RecordError('missing "messages" (a list of {"role", "content"})')
    _check_turn_count(messages)
    parsed = []
    for position, message in enumerate(messages, start=1):
        where = f"message {position}"
        if not isinstance(message, dict):
            raise RecordError(f"{where}: expected an object with role and content")
        role = message.get("role")
        if role is None:
            raise RecordError(f'{where}: missing "role"')
        if not isinstance(role, str) or role not in _OPENAI_ROLES:
            raise RecordError(
                f'{where}: unknown role "{role}" (expected {", ".join(_OPENAI_ROLES)})'
            )
        metadata = _object(
            {k: v for k, v in message.items() if k not in ("role", "content")}, where
        )
        if role in ("function", "developer"):
            metadata["original_role"] = role
            role = "tool" if role == "function" else "system"
        content = message.get("content")
        if "content" not in message and not (
            message.get("tool_calls") or message.get("function_call")
        ):
            raise RecordError(f'{where}: missing "content"')
        if isinstance(content, list) and not all(_is_text_part(part) for part in content):
            # Images, audio and files are not shown as text, but they are kept.
            metadata["content"] = content
        parsed.append(TurnData(role=role, text=_content_text(content, where), metadata=metadata))
    metadata = {k: v for k, v in record.items() if k not in ("id", "messages")}
    return ConversationData(external_id=_external_id(record), turns=parsed, metadata=metadata)


PARSERS: dict[str, Callable[[Any], ConversationData]] = {
    "native": parse_native,
    "openai": parse_openai,
}


def iter_conversations(
    stream: IO[bytes], format: str | None = None
) -> Iterator[tuple[int, ConversationData | Problem, str | None]]:
    """Yield (line, conversation or problem, format) for each record of a JSONL file.

    The format is detected from the first record unless given.
    """
    if format is not None and format not in PARSERS:
        raise ValueError(f'unknown format "{format}" (expected {", ".join(FORMATS)})')
    for line, record in read_json_lines(stream):
        if isinstance(record, Problem):
            yield line, record, format
            continue
        if format is None:
            try:
                format = detect_format(record)
            except RecordError as exc:
                yield line, Problem(line, str(exc)), None
                continue
        try:
            yield line, PARSERS[format](record), format
        except RecordError as exc:
            yield line, Problem(line, str(exc)), format
