"""What the format parsers share: the Parser base class and helpers for messages and pairs.

Conventions every parser follows:
- every message becomes a turn, system and tool messages included;
- keys a format does not map to a field go to metadata, so nothing a user brought is lost;
- a rejected or sibling reply becomes an entry of `turn.metadata["alternatives"]`:
  `{"text", "source": "rejected" | "non_preferred_output" | "oasst_sibling", ...}`,
  and a preference pair marks its chosen turn with `turn.metadata["preferred"] = True`.
"""

from typing import Any, ClassVar

import orjson

from annotation.importers.readers import Where
from annotation.importers.records import (
    ConversationData,
    Problem,
    RecordError,
    TurnData,
    check_text,
    nul_path,
)

# Sibling replies beyond this many are counted, not copied onto every path through a tree.
MAX_ALTERNATIVES = 10


class Parser:
    """A format: `matches` recognises a record, `build` turns it into conversations.

    `parse` wraps `build`: the record must be an object, and once its texts have been
    checked (with turn-precise messages), nothing else in it may be unstorable.
    """

    name: ClassVar[str]
    description: ClassVar[str]

    @staticmethod
    def matches(record: dict) -> bool:
        raise NotImplementedError

    def parse(self, record: Any, where: Where) -> list[ConversationData]:
        record = require_object(record)
        conversations = self.build(record, where)
        check_storable(record)
        return conversations

    def build(self, record: dict, where: Where) -> list[ConversationData]:
        raise NotImplementedError

    def finish(self) -> list[ConversationData | Problem]:
        """Conversations (or problems) that could only be built after the last record."""
        return []


def require_object(record: Any) -> dict:
    if not isinstance(record, dict):
        raise RecordError(f"expected a JSON object, got {kind(record)}")
    return record


def kind(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    return type(value).__name__


def rest(record: dict, used: tuple[str, ...]) -> dict:
    """The keys of a record that no field took: they become metadata."""
    return {key: value for key, value in record.items() if key not in used}


def check_storable(record: dict) -> None:
    """Refuse what the database cannot store anywhere in a record (texts are checked first).

    One orjson pass over the whole record is much cheaper than walking every metadata
    dict for NUL characters; the walk only runs when the pass finds one.
    """
    try:
        data = orjson.dumps(record)
    except TypeError:
        raise RecordError("holds an integer too large to store (the limit is 64 bits)") from None
    if b"\\u0000" in data:
        path = nul_path(record)
        if path is not None:
            raise RecordError(f"{path} contains a NUL character, which cannot be stored")


def loads_or_keep(value: Any) -> Any:
    """A JSON text decoded (tool calls are often JSON in a string), or the value unchanged."""
    if not isinstance(value, str):
        return value
    try:
        decoded = orjson.loads(value)
    except orjson.JSONDecodeError:
        return value
    # An escaped NUL inside the string only becomes a NUL once decoded.
    if "\\u0000" in value and nul_path(decoded) is not None:
        return value
    return decoded


# --- OpenAI / Hugging Face messages ------------------------------------------------------

_OPENAI_ROLES = ("system", "developer", "user", "assistant", "tool", "function")
# LLaMA-Factory v1 "typed content parts": {"type": ..., "value": str}.
_TYPED_PARTS = ("text", "reasoning", "tool_call")


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


def _content_parts(parts: list, metadata: dict, where: str) -> str:
    """Text of a list of content parts; reasoning, tool calls and media go to metadata."""
    texts: list[str] = []
    reasoning: list[str] = []
    calls: list[Any] = []
    other = False
    for part in parts:
        if isinstance(part, str):
            texts.append(part)
            continue
        if not isinstance(part, dict):
            other = True
            continue
        value = part.get("value")
        part_type = part.get("type")
        if isinstance(value, str) and part_type in _TYPED_PARTS:
            if part_type == "text":
                texts.append(value)
            elif part_type == "reasoning":
                reasoning.append(value)
            else:
                calls.append(loads_or_keep(value))
        elif isinstance(part.get("text"), str):
            texts.append(part["text"])
        else:
            other = True
    if other:
        # Images, audio and files are not shown as text, but they are kept.
        metadata["content"] = parts
    if reasoning:
        metadata["reasoning"] = "\n".join(reasoning)
    if calls:
        existing = metadata.get("tool_calls")
        metadata["tool_calls"] = [*existing, *calls] if isinstance(existing, list) else calls
    return check_text("\n".join(texts), where)


def openai_turn(message: Any, where: str) -> TurnData:
    """One OpenAI chat message as a turn; everything but role and content goes to metadata."""
    if not isinstance(message, dict):
        raise RecordError(f"{where}: expected an object with role and content")
    role = message.get("role")
    if role is None:
        raise RecordError(f'{where}: missing "role"')
    if not isinstance(role, str) or role not in _OPENAI_ROLES:
        raise RecordError(f'{where}: unknown role "{role}" (expected {", ".join(_OPENAI_ROLES)})')
    metadata = {k: v for k, v in message.items() if k != "role" and k != "content"}
    if role in ("function", "developer"):
        metadata["original_role"] = role
        role = "tool" if role == "function" else "system"
    content = message.get("content")
    if "content" not in message and not (message.get("tool_calls") or message.get("function_call")):
        raise RecordError(f'{where}: missing "content"')
    if isinstance(content, list):
        text = _content_parts(content, metadata, where)
    else:
        text = content_text(content, where)
    return TurnData(role=role, text=text, metadata=metadata)


def openai_turns(messages: Any, key: str, label: str) -> list[TurnData]:
    """The turns of a list of messages under `key`; `label` names one in errors."""
    if not isinstance(messages, list):
        raise RecordError(f'missing "{key}" (a list of {{"role", "content"}})')
    return [
        openai_turn(message, f"{label} {position}")
        for position, message in enumerate(messages, start=1)
    ]


# --- ShareGPT messages -------------------------------------------------------------------

SHAREGPT_ROLES = {
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "chatgpt": "assistant",
    "bing": "assistant",
    "bard": "assistant",
    "system": "system",
    "function_call": "assistant",
    "observation": "tool",
    "tool": "tool",
    "function": "tool",
}
_SHAREGPT_EXPECTED = ", ".join(SHAREGPT_ROLES)
# Names that say more than the role they map to are remembered in metadata["original_role"].
_SHAREGPT_PLAIN = frozenset(("human", "user", "gpt", "assistant", "system", "tool"))


def sharegpt_turn(message: Any, where: str) -> TurnData:
    """One {"from", "value"} message as a turn; other keys go to metadata."""
    if not isinstance(message, dict):
        raise RecordError(f'{where}: expected an object with "from" and "value"')
    source = message.get("from")
    if source is None:
        if "role" in message:  # some exports use OpenAI messages inside "conversations"
            return openai_turn(message, where)
        raise RecordError(f'{where}: missing "from"')
    role = SHAREGPT_ROLES.get(source) if isinstance(source, str) else None
    if role is None and isinstance(source, str) and source.lower() in SHAREGPT_ROLES:
        source = source.lower()
        role = SHAREGPT_ROLES[source]
    if role is None:
        raise RecordError(f'{where}: unknown "from" "{source}" (expected {_SHAREGPT_EXPECTED})')
    if "value" not in message:
        raise RecordError(f'{where}: missing "value"')
    text = check_text(message["value"], where)
    metadata = {k: v for k, v in message.items() if k != "from" and k != "value"}
    if source not in _SHAREGPT_PLAIN:
        metadata["original_role"] = source
    if source == "function_call":
        metadata["function_call"] = loads_or_keep(text)
    return TurnData(role=role, text=text, metadata=metadata)


def sharegpt_turns(record: dict, label: str = "turn") -> list[TurnData]:
    """A top-level "system" string, then every message of "conversations"."""
    messages = record.get("conversations")
    if not isinstance(messages, list):
        raise RecordError('missing "conversations" (a list of {"from", "value"})')
    if not messages:
        raise RecordError("a conversation needs at least one turn")
    turns = []
    system = record.get("system")
    if system is not None:
        if not isinstance(system, str):
            raise RecordError(f'"system" must be a string, got {kind(system)}')
        if system:
            turns.append(TurnData(role="system", text=check_text(system, '"system"')))
    turns.extend(
        sharegpt_turn(message, f"{label} {position}")
        for position, message in enumerate(messages, start=1)
    )
    return turns


# --- Alternatives ------------------------------------------------------------------------


def add_alternative(turn: TurnData, alternative: dict[str, Any]) -> None:
    turn.metadata.setdefault("alternatives", []).append(alternative)


def _same(a: TurnData, b: TurnData) -> bool:
    return a is b or (
        a.role == b.role
        and a.text == b.text
        and a.metadata.get("tool_calls") == b.metadata.get("tool_calls")
    )


def _compact(turn: TurnData) -> dict[str, Any]:
    entry: dict[str, Any] = {"role": turn.role, "text": turn.text}
    if turn.metadata:
        entry["metadata"] = turn.metadata
    return entry


def attach_rejected(
    turns: list[TurnData], rejected: list[TurnData], source: str, start: int = 0
) -> bool:
    """Put the rejected side on the chosen turn where the two conversations part.

    `turns` is the chosen conversation and `rejected` the rejected one, both in full;
    they are compared from `start`. Returns False when they never part (identical, or
    one is a prefix of the other): the caller then keeps the rejected side as metadata.
    """
    position, end = start, min(len(turns), len(rejected))
    while position < end and _same(turns[position], rejected[position]):
        position += 1
    if position == end:
        return False
    chosen, other = turns[position], rejected[position]
    alternative: dict[str, Any] = {"text": other.text, "source": source}
    if other.role != chosen.role:
        alternative["role"] = other.role
    if other.metadata:
        alternative["metadata"] = other.metadata
    if len(rejected) > position + 1:
        alternative["continuation"] = [_compact(t) for t in rejected[position + 1 :]]
    add_alternative(chosen, alternative)
    chosen.metadata["preferred"] = True
    return True
