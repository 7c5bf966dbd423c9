"""One parser per conversation format, and detection of the format from a record.

A parser turns one decoded JSON record into zero or more `ConversationData`, or raises
`RecordError` with a message a user can act on. Parsers that need the whole file (OASST
messages whose parents come later) keep state and hand out the rest in `finish()`.
"""

from typing import Any, ClassVar

from annotation.importers.readers import Where
from annotation.importers.records import (
    ConversationData,
    Problem,
    RecordError,
    TurnData,
    check_role,
    check_text,
    check_turn_count,
    external_id,
    json_object,
)


class Parser:
    name: ClassVar[str]
    description: ClassVar[str]

    @staticmethod
    def matches(record: dict) -> bool:
        raise NotImplementedError

    def parse(self, record: Any, where: Where) -> list[ConversationData]:
        raise NotImplementedError

    def finish(self) -> list[ConversationData | Problem]:
        """Conversations (or problems) that could only be built after the last record."""
        return []


def _require_object(record: Any) -> dict:
    if not isinstance(record, dict):
        raise RecordError(f"expected a JSON object, got {_kind(record)}")
    return record


def _kind(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    return type(value).__name__


class NativeParser(Parser):
    name = "native"
    description = '{"id"?, "turns": [{"role", "text", "metadata"?}], "metadata"?}'

    @staticmethod
    def matches(record: dict) -> bool:
        return isinstance(record.get("turns"), list)

    def parse(self, record: Any, where: Where) -> list[ConversationData]:
        record = _require_object(record)
        turns = record.get("turns")
        if not isinstance(turns, list):
            raise RecordError('missing "turns" (a list of {"role", "text"})')
        check_turn_count(turns)
        parsed = []
        for position, turn in enumerate(turns, start=1):
            where_turn = f"turn {position}"
            if not isinstance(turn, dict):
                raise RecordError(f"{where_turn}: expected an object with role and text")
            role = check_role(turn.get("role"), where_turn)
            if "text" not in turn:
                raise RecordError(f'{where_turn}: missing "text"')
            parsed.append(
                TurnData(
                    role=role,
                    text=check_text(turn["text"], where_turn),
                    metadata=json_object(turn.get("metadata"), f"{where_turn}: metadata"),
                )
            )
        metadata = dict(json_object(record.get("metadata"), '"metadata"'))
        # Keep whatever else the record carries (tags, sources...): nothing brought is dropped.
        for key, value in record.items():
            if key not in ("id", "turns", "metadata"):
                metadata.setdefault(key, value)
        return [
            ConversationData(
                external_id=external_id(record.get("id")), turns=parsed, metadata=metadata
            )
        ]


def _is_text_part(part: Any) -> bool:
    return isinstance(part, str) or (isinstance(part, dict) and isinstance(part.get("text"), str))


def content_text(content: Any, where: str) -> str:
    """The text of an OpenAI-style `content`: a string, null, or a list of parts."""
    if content is None:
        return ""
    if isinstance(content, list):
        parts = [p if isinstance(p, str) else p["text"] for p in content if _is_text_part(p)]
        return check_text("\n".join(parts), where)
    return check_text(content, where)


_OPENAI_ROLES = ("system", "developer", "user", "assistant", "tool", "function")


def openai_turn(message: Any, where: str) -> TurnData:
    """One OpenAI chat message as a turn; everything but role and content goes to metadata."""
    if not isinstance(message, dict):
        raise RecordError(f"{where}: expected an object with role and content")
    role = message.get("role")
    if role is None:
        raise RecordError(f'{where}: missing "role"')
    if not isinstance(role, str) or role not in _OPENAI_ROLES:
        raise RecordError(f'{where}: unknown role "{role}" (expected {", ".join(_OPENAI_ROLES)})')
    metadata = json_object(
        {k: v for k, v in message.items() if k not in ("role", "content")}, where
    )
    if role in ("function", "developer"):
        metadata["original_role"] = role
        role = "tool" if role == "function" else "system"
    content = message.get("content")
    if "content" not in message and not (message.get("tool_calls") or message.get("function_call")):
        raise RecordError(f'{where}: missing "content"')
    if isinstance(content, list) and not all(_is_text_part(part) for part in content):
        # Images, audio and files are not shown as text, but they are kept.
        metadata["content"] = content
    return TurnData(role=role, text=content_text(content, where), metadata=metadata)


class OpenAIParser(Parser):
    name = "openai"
    description = '{"messages": [{"role", "content"}], "tools"?} (OpenAI chat fine-tuning)'

    @staticmethod
    def matches(record: dict) -> bool:
        return isinstance(record.get("messages"), list)

    def parse(self, record: Any, where: Where) -> list[ConversationData]:
        record = _require_object(record)
        messages = record.get("messages")
        if not isinstance(messages, list):
            raise RecordError('missing "messages" (a list of {"role", "content"})')
        check_turn_count(messages)
        turns = [
            openai_turn(message, f"message {position}")
            for position, message in enumerate(messages, start=1)
        ]
        metadata = {k: v for k, v in record.items() if k not in ("id", "messages")}
        return [
            ConversationData(
                external_id=external_id(record.get("id")), turns=turns, metadata=metadata
            )
        ]


# Detection tries these in order; the first whose `matches` accepts the record wins.
PARSERS: dict[str, type[Parser]] = {
    parser.name: parser
    for parser in (
        NativeParser,
        OpenAIParser,
    )
}
FORMATS = tuple(PARSERS)


def detect(record: Any) -> type[Parser]:
    """The parser for a record's format, or RecordError saying why none fits."""
    if isinstance(record, dict):
        for parser in PARSERS.values():
            if parser.matches(record):
                return parser
        keys = ", ".join(list(record)[:8]) or "none"
        raise RecordError(
            f"cannot tell the format of this record (its keys: {keys}); expected one of: "
            + "; ".join(f"{p.name} {p.description}" for p in PARSERS.values())
        )
    raise RecordError(f"cannot tell the format: expected a JSON object, got {_kind(record)}")
