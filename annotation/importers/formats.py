"""One parser per conversation format, and detection of the format from a record.

A parser turns one decoded JSON record into zero or more `ConversationData`, or raises
`RecordError` with a message a user can act on. Parsers that need the whole file (OASST
messages whose parents come later) keep state and hand out the rest in `finish()`.
What the parsers share (the base class, message helpers, alternatives) is in `base`.
"""

import re
from typing import Any

from django.conf import settings

from annotation.importers.base import (
    Parser,
    attach_rejected,
    kind,
    openai_turns,
    rest,
    sharegpt_turn,
    sharegpt_turns,
)
from annotation.importers.oasst import OASSTParser
from annotation.importers.readers import Where
from annotation.importers.records import (
    ConversationData,
    RecordError,
    TurnData,
    check_role,
    check_text,
    check_turn_count,
    external_id,
    json_object,
)
from projects.models import ROLES

_ROLES = frozenset(ROLES)


class NativeParser(Parser):
    name = "native"
    description = '{"id"?, "turns": [{"role", "text", "metadata"?}], "metadata"?}'

    @staticmethod
    def matches(record: dict) -> bool:
        return isinstance(record.get("turns"), list)

    def build(self, record: dict, where: Where) -> list[ConversationData]:
        turns = record.get("turns")
        if not isinstance(turns, list):
            raise RecordError('missing "turns" (a list of {"role", "text"})')
        check_turn_count(turns)
        limit = settings.IMPORT_MAX_CHARS_PER_TURN
        parsed = []
        for position, turn in enumerate(turns, start=1):
            # The common case in a few cheap checks; anything unusual takes the long way,
            # which says exactly what is wrong.
            if (
                type(turn) is dict
                and turn.get("role") in _ROLES
                and type(text := turn.get("text")) is str
                and len(text) <= limit
                and "\x00" not in text
                and type(metadata := turn.get("metadata", {})) is dict
            ):
                parsed.append(TurnData(turn["role"], text, metadata))
            else:
                parsed.append(self._checked_turn(turn, f"turn {position}"))
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

    @staticmethod
    def _checked_turn(turn: Any, where: str) -> TurnData:
        if not isinstance(turn, dict):
            raise RecordError(f"{where}: expected an object with role and text")
        role = check_role(turn.get("role"), where)
        if "text" not in turn:
            raise RecordError(f'{where}: missing "text"')
        return TurnData(
            role=role,
            text=check_text(turn["text"], where),
            metadata=json_object(turn.get("metadata"), f"{where}: metadata"),
        )


class OpenAIParser(Parser):
    """OpenAI chat fine-tuning and Hugging Face `messages`, KTO and typed content parts.

    KTO's "label", a "tools" list or JSON string, and any other top-level key go to the
    conversation's metadata; LLaMA-Factory's typed parts put "reasoning" and "tool_calls"
    on the turn (see base.openai_turn).
    """

    name = "openai"
    description = '{"messages": [{"role", "content"}]} (OpenAI, Hugging Face, KTO)'

    @staticmethod
    def matches(record: dict) -> bool:
        return isinstance(record.get("messages"), list)

    def build(self, record: dict, where: Where) -> list[ConversationData]:
        turns = openai_turns(record.get("messages"), "messages", "message")
        check_turn_count(turns)
        return [
            ConversationData(
                external_id=external_id(record.get("id")),
                turns=turns,
                metadata=rest(record, ("id", "messages")),
            )
        ]


class ShareGPTParser(Parser):
    """ShareGPT / Vicuna / LLaMA-Factory: {"id"?, "system"?, "tools"?, "conversations"}.

    A top-level "system" becomes a first system turn; "tools" (a JSON string in
    LLaMA-Factory) and other keys go to the conversation's metadata.
    """

    name = "sharegpt"
    description = '{"conversations": [{"from", "value"}]}'

    @staticmethod
    def matches(record: dict) -> bool:
        return isinstance(record.get("conversations"), list)

    def build(self, record: dict, where: Where) -> list[ConversationData]:
        turns = sharegpt_turns(record)
        check_turn_count(turns)
        return [
            ConversationData(
                external_id=external_id(record.get("id")),
                turns=turns,
                metadata=rest(record, ("id", "system", "conversations")),
            )
        ]


# --- Preference pairs --------------------------------------------------------------------

_PREFERENCE_SHAPES = (
    '{"prompt", "chosen", "rejected"}, {"input", "preferred_output", "non_preferred_output"}, '
    '{"conversations", "chosen", "rejected"} or {"chosen_messages", "rejected_messages"}'
)


def _preference_shape(record: dict) -> str | None:
    if "preferred_output" in record or "non_preferred_output" in record:
        return "openai"
    if "chosen_messages" in record or "rejected_messages" in record:
        return "messages"
    if "chosen" in record and "rejected" in record:
        if "conversations" in record:
            return "sharegpt"
        if "prompt" in record or isinstance(record["chosen"], list):
            return "prompt"
    return None


class PreferenceParser(Parser):
    """Preference pairs: one conversation from the chosen side, the rejected reply kept as
    an alternative on the chosen turn (see base.attach_rejected).

    - {"prompt", "chosen", "rejected"}: strings (prompt -> user turn, chosen -> assistant
      turn), or TRL message lists (prompt messages + chosen assistant messages), or TRL's
      implicit prompt (no prompt; chosen and rejected are whole conversations);
    - OpenAI DPO: {"input": {"messages", "tools"?}, "preferred_output", "non_preferred_output"};
    - LLaMA-Factory: {"conversations", "chosen": {"from", "value"}, "rejected": {...}};
    - LLaMA-Factory v1: {"chosen_messages", "rejected_messages"}, whole conversations.
    Other keys (id -> external id; category, chosen_model...) go to metadata. When the two
    sides never part, the rejected side is kept in metadata under its own key.
    """

    name = "preference"
    description = _PREFERENCE_SHAPES

    @staticmethod
    def matches(record: dict) -> bool:
        return _preference_shape(record) is not None

    def build(self, record: dict, where: Where) -> list[ConversationData]:
        shape = _preference_shape(record)
        if shape == "openai":
            turns, metadata = _openai_preference(record)
        elif shape == "messages":
            chosen = _message_side(record, "chosen_messages")
            rejected = _message_side(record, "rejected_messages")
            turns, metadata = chosen, rest(record, ("id", "chosen_messages"))
            if attach_rejected(turns, rejected, "rejected"):
                del metadata["rejected_messages"]
        elif shape == "sharegpt":
            turns, metadata = _sharegpt_preference(record)
        elif shape == "prompt":
            turns, metadata = _prompt_preference(record)
        elif isinstance(record.get("chosen"), str) and isinstance(record.get("rejected"), str):
            raise RecordError(
                'no "prompt" beside the "chosen" and "rejected" strings '
                "(whole Human:/Assistant: transcripts are the hh_rlhf format)"
            )
        elif "chosen" in record:
            raise RecordError('missing "rejected" beside "chosen"')
        elif "rejected" in record:
            raise RecordError('missing "chosen" beside "rejected"')
        else:
            raise RecordError(f"not a preference pair: expected {_PREFERENCE_SHAPES}")
        check_turn_count(turns)
        return [
            ConversationData(
                external_id=external_id(record.get("id")), turns=turns, metadata=metadata
            )
        ]


def _message_side(record: dict, key: str) -> list[TurnData]:
    turns = openai_turns(record.get(key), key, f"{key} message")
    if not turns:
        raise RecordError(f'"{key}" is empty')
    return turns


def _openai_preference(record: dict) -> tuple[list[TurnData], dict]:
    source = record.get("input")
    if not isinstance(source, dict) or not isinstance(source.get("messages"), list):
        raise RecordError('missing "input" (an object with "messages")')
    prompt = openai_turns(source["messages"], "input.messages", "input message")
    preferred = _message_side(record, "preferred_output")
    turns = prompt + preferred
    rejected = prompt + _message_side(record, "non_preferred_output")
    metadata = rest(record, ("id", "input", "preferred_output"))
    for key, value in source.items():
        if key != "messages":
            metadata.setdefault(key, value)  # tools, parallel_tool_calls
    if attach_rejected(turns, rejected, "non_preferred_output", start=len(prompt)):
        del metadata["non_preferred_output"]
    return turns, metadata


def _sharegpt_side(value: Any, key: str) -> list[TurnData]:
    if isinstance(value, list):
        if not value:
            raise RecordError(f'"{key}" is empty')
        return [sharegpt_turn(m, f"{key} {i}") for i, m in enumerate(value, start=1)]
    return [sharegpt_turn(value, f'"{key}"')]


def _sharegpt_preference(record: dict) -> tuple[list[TurnData], dict]:
    prompt = sharegpt_turns(record)
    turns = prompt + _sharegpt_side(record["chosen"], "chosen")
    rejected = prompt + _sharegpt_side(record["rejected"], "rejected")
    metadata = rest(record, ("id", "system", "conversations", "chosen"))
    if attach_rejected(turns, rejected, "rejected", start=len(prompt)):
        del metadata["rejected"]
    return turns, metadata


def _not_text_or_messages(key: str, value: Any) -> str:
    return f'"{key}" must be a string or a list of messages, got {kind(value)}'


def _reply_side(value: Any, key: str) -> list[TurnData]:
    if isinstance(value, str):
        return [TurnData(role="assistant", text=check_text(value, f'"{key}"'))]
    if isinstance(value, list):
        return _message_side({key: value}, key)
    raise RecordError(_not_text_or_messages(key, value))


def _prompt_turns(value: Any) -> list[TurnData] | None:
    """A "prompt" as turns: a string is one user turn, a list is messages; else None."""
    if isinstance(value, str):
        return [TurnData(role="user", text=check_text(value, '"prompt"'))]
    if isinstance(value, list):
        return openai_turns(value, "prompt", "prompt message")
    return None


def _prompt_preference(record: dict) -> tuple[list[TurnData], dict]:
    prompt_value = record.get("prompt")
    prompt = [] if prompt_value is None else _prompt_turns(prompt_value)
    if prompt is None:
        raise RecordError(_not_text_or_messages("prompt", prompt_value))
    chosen = _reply_side(record["chosen"], "chosen")
    rejected = _reply_side(record["rejected"], "rejected")
    metadata = rest(record, ("id", "prompt", "chosen"))
    if prompt and isinstance(record["chosen"], list) and chosen[0].role != "assistant":
        # Both sides are whole conversations already (TRL's implicit prompt, with the
        # prompt repeated beside them): the prompt is kept, but not as turns twice.
        metadata["prompt"] = prompt_value
        prompt = []
    turns = prompt + chosen
    if attach_rejected(turns, prompt + rejected, "rejected", start=len(prompt)):
        del metadata["rejected"]
    return turns, metadata


# HH-RLHF speaker markers. Only these split turns: an assistant text may itself begin with
# "Human: " (hh-rlhf harmless-base test line 30), which must stay text. A marker at the
# very end of a transcript may lack its space (an empty last reply).
_HH_MARKER = re.compile(r"\n\n(Human|Assistant):(?: |\Z)")
_HH_ROLES = {"Human": "user", "Assistant": "assistant"}


def _transcript_turns(transcript: Any, key: str) -> list[TurnData]:
    if not isinstance(transcript, str):
        raise RecordError(f'"{key}" must be a string, got {kind(transcript)}')
    if transcript.startswith(("Human: ", "Assistant: ")):
        transcript = "\n\n" + transcript
    parts = _HH_MARKER.split(transcript)
    if len(parts) == 1:
        raise RecordError(
            f'"{key}" has no "\\n\\nHuman: " or "\\n\\nAssistant: " markers to split it into turns'
        )
    if parts[0].strip():
        raise RecordError(f'"{key}" has text before its first "\\n\\nHuman: " marker')
    turns = []
    for index in range(1, len(parts), 2):
        where = f"{key} turn {len(turns) + 1}"
        text = check_text(parts[index + 1], where)
        turns.append(TurnData(role=_HH_ROLES[parts[index]], text=text))
    return turns


class HHRLHFParser(Parser):
    """Anthropic HH-RLHF: {"chosen", "rejected"} Human:/Assistant: transcripts.

    The conversation comes from "chosen". The rejected final reply, when it differs, is an
    alternative on the last turn; when the transcripts differ before that reply too, the
    whole rejected transcript is also kept in metadata["rejected_transcript"].
    """

    name = "hh_rlhf"
    description = '{"chosen", "rejected"} as Human:/Assistant: transcripts'

    @staticmethod
    def matches(record: dict) -> bool:
        return (
            isinstance(record.get("chosen"), str)
            and isinstance(record.get("rejected"), str)
            and "prompt" not in record
        )

    def build(self, record: dict, where: Where) -> list[ConversationData]:
        for key in ("chosen", "rejected"):
            if key not in record:
                raise RecordError(f'missing "{key}" (a Human:/Assistant: transcript)')
        turns = _transcript_turns(record["chosen"], "chosen")
        rejected = _transcript_turns(record["rejected"], "rejected")
        check_turn_count(turns)
        metadata = rest(record, ("id", "chosen", "rejected"))
        last, other = turns[-1], rejected[-1]
        both_replies = last.role == other.role == "assistant"
        if both_replies and last.text != other.text:
            last.metadata["alternatives"] = [{"text": other.text, "source": "rejected"}]
            last.metadata["preferred"] = True
        same_before = len(turns) == len(rejected) and all(
            a.role == b.role and a.text == b.text
            for a, b in zip(turns[:-1], rejected[:-1], strict=True)
        )
        if not (both_replies and same_before) and turns != rejected:
            metadata["rejected_transcript"] = record["rejected"]
        return [
            ConversationData(
                external_id=external_id(record.get("id")), turns=turns, metadata=metadata
            )
        ]


# --- Prompts with an optional response ---------------------------------------------------

_RESPONSE_KEYS = ("response", "completion", "output")


class PromptResponseParser(Parser):
    """An evaluation prompt and maybe its answer (CoCoNot, TRL prompt-completion, KTO).

    The prompt (a string or messages) becomes the first turn(s); "response", "completion"
    or "output" (the first present) an assistant turn when it is not empty.
    """

    name = "prompt_response"
    description = '{"prompt", "response"?}'

    @staticmethod
    def matches(record: dict) -> bool:
        return (
            isinstance(record.get("prompt"), (str, list))
            and "chosen" not in record
            and "rejected" not in record
        )

    def build(self, record: dict, where: Where) -> list[ConversationData]:
        turns = _prompt_turns(record.get("prompt"))
        if turns is None:
            raise RecordError('missing "prompt" (a string or a list of messages)')
        key = next((k for k in _RESPONSE_KEYS if k in record), None)
        if key is not None:
            value = record[key]
            if isinstance(value, str):
                if value:
                    turns.append(TurnData(role="assistant", text=check_text(value, f'"{key}"')))
            elif isinstance(value, list):
                turns.extend(openai_turns(value, key, f"{key} message"))
            elif value is not None:
                raise RecordError(_not_text_or_messages(key, value))
        check_turn_count(turns)
        return [
            ConversationData(
                external_id=external_id(record.get("id")),
                turns=turns,
                metadata=rest(record, ("id", "prompt", key or "")),
            )
        ]


# --- Task-oriented dialogue --------------------------------------------------------------

# In task-oriented data the "system" is the agent, so it is the assistant role here.
_SPEAKERS = {
    "user": "user",
    "system": "assistant",
    "assistant": "assistant",
    "agent": "assistant",
}
_SPEAKERS.update({speaker.upper(): role for speaker, role in _SPEAKERS.items()})


class DialogueParser(Parser):
    """Task-oriented dialogues; the SYSTEM/ASSISTANT speaker is the assistant role.

    - Schema-Guided Dialogue and MultiWOZ (ConvLab-3 unified): {"dialogue_id", "turns":
      [{"speaker", "utterance", ...}]};
    - Taskmaster: {"conversation_id", "utterances": [{"index", "speaker", "text", ...}]}.
    Per-turn keys (frames, dialogue_acts, state, segments...) go to turn metadata, other
    top-level keys (services, goal, domains...) to the conversation's metadata.
    """

    name = "dialogue"
    description = (
        '{"dialogue_id", "turns": [{"speaker", "utterance"}]} or '
        '{"conversation_id", "utterances": [{"speaker", "text"}]} (SGD, MultiWOZ, Taskmaster)'
    )

    @staticmethod
    def matches(record: dict) -> bool:
        turns = record.get("turns")
        if isinstance(turns, list):
            if "dialogue_id" in record:
                return True
            first = turns[0] if turns else None
            return isinstance(first, dict) and "speaker" in first and "role" not in first
        return isinstance(record.get("utterances"), list)

    def build(self, record: dict, where: Where) -> list[ConversationData]:
        if "turns" in record or "utterances" not in record:
            key, text_key, label, id_key = "turns", "utterance", "turn", "dialogue_id"
        else:
            key, text_key, label, id_key = "utterances", "text", "utterance", "conversation_id"
        items = record.get(key)
        if not isinstance(items, list):
            raise RecordError(f'missing "{key}" (a list of {{"speaker", "{text_key}"}})')
        check_turn_count(items)
        turns = []
        for position, item in enumerate(items, start=1):
            where_turn = f"{label} {position}"
            if not isinstance(item, dict):
                raise RecordError(
                    f'{where_turn}: expected an object with "speaker" and "{text_key}"'
                )
            speaker = item.get("speaker")
            role = _SPEAKERS.get(speaker) if isinstance(speaker, str) else None
            if role is None and isinstance(speaker, str):
                role = _SPEAKERS.get(speaker.lower())
            if role is None:
                if speaker is None:
                    raise RecordError(f'{where_turn}: missing "speaker"')
                raise RecordError(
                    f'{where_turn}: unknown speaker "{speaker}" '
                    "(expected USER, SYSTEM, ASSISTANT or AGENT, in any case)"
                )
            if text_key not in item:
                raise RecordError(f'{where_turn}: missing "{text_key}"')
            turns.append(
                TurnData(
                    role=role,
                    text=check_text(item[text_key], where_turn),
                    metadata={k: v for k, v in item.items() if k != "speaker" and k != text_key},
                )
            )
        used_id = id_key if id_key in record else "id"
        return [
            ConversationData(
                external_id=external_id(record.get(used_id), used_id),
                turns=turns,
                metadata=rest(record, (used_id, key)),
            )
        ]


# --- Files that are no conversations -----------------------------------------------------

_AS_NATIVE = '{"turns": [{"role", "text"}]} (native)'
_AS_PROMPTS = 'JSON Lines of {"id", "prompt"} records (prompt_response), one per question'


def _is_paragraphs(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and isinstance(value[0], dict)
        and "author" in value[0]
        and "text" in value[0]
    )


def _refusal(record: dict) -> str | None:
    """Why a known kind of file that holds no conversations cannot be imported, and what to do."""
    if "dataset_name" in record and isinstance(record.get("example"), list):
        return (
            'this looks like a SelfAware-style question set ("dataset_name" with a list of '
            f'"example" questions), not conversations: write it as {_AS_PROMPTS}'
        )
    data = record.get("data")
    first = data[0] if isinstance(data, list) and data else None
    if "version" in record and isinstance(first, dict) and "paragraphs" in first:
        return (
            'this looks like a SQuAD reading-comprehension file ("version", "data" with '
            '"paragraphs" of questions over passages), not conversations: '
            f"write it as {_AS_PROMPTS}"
        )
    if "service_name" in record and ("slots" in record or "intents" in record):
        return (
            "this looks like a Schema-Guided Dialogue schema.json entry (a service with its "
            "slots and intents), not a dialogue: import the dialogues_*.json files instead"
        )
    if isinstance(data, dict) or "annotations" in record or "predictions" in record:
        return (
            'this looks like a Label Studio task or export ("data", "annotations"), which has '
            "no fixed conversation layout: export the dialogue from it as JSON Lines of "
            f'{{"messages": [{{"role", "content"}}]}} (openai) or {_AS_NATIVE}'
        )
    if ("author" in record and "text" in record) or any(
        _is_paragraphs(value) for value in record.values()
    ):
        return (
            'this looks like Label Studio Paragraphs ({"author", "text"} lines), whose '
            "speakers are names, not roles: map each author to user or assistant and "
            f"import JSON Lines of {_AS_NATIVE}"
        )
    return None


# Detection tries these in order; the first whose `matches` accepts the record wins.
PARSERS: dict[str, type[Parser]] = {
    parser.name: parser
    for parser in (
        DialogueParser,  # before native: SGD and MultiWOZ dialogues have a "turns" list too
        NativeParser,
        PreferenceParser,  # before openai, sharegpt and hh_rlhf, whose keys pairs share
        OpenAIParser,
        HHRLHFParser,
        PromptResponseParser,
        ShareGPTParser,
        OASSTParser,
    )
}
# The order people read them in (menus, messages); detection uses the order of PARSERS.
FORMATS = (
    "native",
    "openai",
    "sharegpt",
    "preference",
    "hh_rlhf",
    "prompt_response",
    "oasst",
    "dialogue",
)


def detect(record: Any) -> type[Parser]:
    """The parser for a record's format, or RecordError saying why none fits."""
    if isinstance(record, dict):
        for parser in PARSERS.values():
            if parser.matches(record):
                return parser
        refusal = _refusal(record)
        if refusal is not None:
            raise RecordError(refusal)
        keys = ", ".join(list(record)[:8]) or "none"
        raise RecordError(
            f"cannot tell the format of this record (its keys: {keys}); expected one of: "
            + "; ".join(f"{name} {PARSERS[name].description}" for name in FORMATS)
        )
    raise RecordError(f"cannot tell the format: expected a JSON object, got {kind(record)}")
