"""OpenAssistant (OASST) exports: tree lines, nested message lines and flat message lines.

Each root-to-leaf path of a message tree becomes one conversation whose external id is the
leaf's message_id. The other replies to the same parent (siblings) become alternatives on
the turn, so annotators can rank them. Deleted messages and everything below them are
left out.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from annotation.importers.base import MAX_ALTERNATIVES, Parser, kind, rest
from annotation.importers.readers import Where
from annotation.importers.records import (
    ConversationData,
    Problem,
    RecordError,
    TurnData,
    check_text,
    check_turn_count,
    external_id,
)

_ROLES = {"prompter": "user", "assistant": "assistant"}
# Tree-level fields: they describe the conversation, not one of its turns.
_TREE_KEYS = ("message_tree_id", "tree_state", "origin")
_NOT_TURN_METADATA = frozenset(("text", "role", "replies", "parent_id", *_TREE_KEYS))

Node = TypeVar("Node")


def _label(message: dict) -> str:
    message_id = message.get("message_id")
    if isinstance(message_id, (str, int)) and not isinstance(message_id, bool):
        return f'message "{message_id}"'
    return "a message"


def _place(where: Where) -> str:
    return f"record {where.record}" if where.record is not None else f"line {where.line}"


def message_turn(message: Any) -> TurnData:
    """One OASST message as a turn: prompter -> user; its other keys go to metadata."""
    if not isinstance(message, dict):
        raise RecordError(f"a reply is not a message object (got {kind(message)})")
    label = _label(message)
    role = message.get("role")
    mapped = _ROLES.get(role) if isinstance(role, str) else None
    if mapped is None:
        if role is None:
            raise RecordError(f'{label}: missing "role"')
        raise RecordError(f'{label}: unknown role "{role}" (expected prompter or assistant)')
    if "text" not in message:
        raise RecordError(f'{label}: missing "text"')
    return TurnData(
        role=mapped,
        text=check_text(message["text"], label),
        metadata={k: v for k, v in message.items() if k not in _NOT_TURN_METADATA},
    )


def _sibling(turn: TurnData) -> dict[str, Any]:
    entry: dict[str, Any] = {"text": turn.text, "source": "oasst_sibling"}
    for key in ("message_id", "rank"):
        value = turn.metadata.get(key)
        if value is not None:
            entry[key] = value
    return entry


def _add_siblings(turns: list[TurnData]) -> None:
    """Give each of several replies to one message the others as its alternatives."""
    if len(turns) < 2:
        return
    for turn in turns:
        others = [_sibling(t) for t in turns if t is not turn]
        turn.metadata.setdefault("alternatives", []).extend(others[:MAX_ALTERNATIVES])
        if len(others) > MAX_ALTERNATIVES:
            turn.metadata["alternatives_omitted"] = len(others) - MAX_ALTERNATIVES


def _paths(
    root: Node,
    root_turn: TurnData,
    replies: Callable[[Node], list[tuple[Node, TurnData]]],
    metadata: dict,
) -> list[ConversationData]:
    """One conversation per root-to-leaf path, leaves in tree order.

    A message's turn is shared by every path through it: it is built (and its siblings
    attached) once. The walk uses a stack, not recursion, so deep trees are fine.
    """
    conversations = []
    stack: list[tuple[Node, list[TurnData]]] = [(root, [root_turn])]
    while stack:
        node, path = stack.pop()
        children = replies(node)
        if not children:
            check_turn_count(path)
            leaf_id = external_id(path[-1].metadata.get("message_id"), "message_id")
            conversations.append(ConversationData(leaf_id, path, dict(metadata)))
            continue
        for child, turn in reversed(children):
            stack.append((child, [*path, turn]))
    return conversations


def _nested_replies(message: dict) -> list[tuple[dict, TurnData]]:
    replies = message.get("replies")
    if replies is None:
        return []
    if not isinstance(replies, list):
        raise RecordError(f'{_label(message)}: "replies" must be a list, got {kind(replies)}')
    kept = [
        (reply, message_turn(reply))
        for reply in replies
        if not (isinstance(reply, dict) and reply.get("deleted"))
    ]
    _add_siblings([turn for _, turn in kept])
    return kept


@dataclass(slots=True)
class _Pending:
    """A flat message line, kept until the end of the file."""

    where: Where
    parent: str | None
    turn: TurnData | None  # None when deleted
    tree: dict[str, Any]


class OASSTParser(Parser):
    """OpenAssistant trees, nested messages, and flat messages in any order.

    - tree lines {"message_tree_id", "tree_state"?, "origin"?, "prompt": <root message>};
    - nested message lines: a root message with its "replies";
    - flat message lines {"message_id", "parent_id", "role", "text", ...} with no
      "replies": a message may come before its parent, so they are all collected and the
      trees built in finish(). A message whose parent never appears is a problem at its line.
    Turn metadata keeps every message key but text, role, replies and parent_id (message_id,
    rank, labels, emojis, lang, synthetic, model_name, review_count, review_result...);
    conversation metadata keeps message_tree_id (the root's id when not given), tree_state
    and origin, plus any other key of a tree line.
    """

    name = "oasst"
    description = (
        '{"message_tree_id", "prompt"} or {"message_id", "parent_id", "role", "text"} (OASST)'
    )

    def __init__(self) -> None:
        self._pending: dict[str, _Pending] = {}

    @staticmethod
    def matches(record: dict) -> bool:
        if "message_tree_id" in record and isinstance(record.get("prompt"), dict):
            return True
        return "message_id" in record and "role" in record and "text" in record

    def build(self, record: dict, where: Where) -> list[ConversationData]:
        if isinstance(record.get("prompt"), dict) or (
            "message_tree_id" in record and "message_id" not in record
        ):
            prompt = record.get("prompt")
            if not isinstance(prompt, dict):
                raise RecordError('missing "prompt" (the root message of the tree)')
            return self._tree(prompt, rest(record, ("prompt",)))
        if "message_id" not in record:
            raise RecordError(
                'not an OASST record: expected a tree {"message_tree_id", "prompt"} or a '
                'message {"message_id", "parent_id", "role", "text"}'
            )
        if "replies" in record:
            return self._tree(record, {k: record[k] for k in _TREE_KEYS if k in record})
        self._collect(record, where)
        return []

    def _tree(self, root: dict, metadata: dict) -> list[ConversationData]:
        if root.get("deleted"):
            return []
        if root.get("message_id") is not None:
            metadata.setdefault("message_tree_id", root["message_id"])
        return _paths(root, message_turn(root), _nested_replies, metadata)

    def _collect(self, record: dict, where: Where) -> None:
        message_id = external_id(record.get("message_id"), "message_id")
        if message_id is None:
            raise RecordError('missing "message_id"')
        if message_id in self._pending:
            first = _place(self._pending[message_id].where)
            raise RecordError(f'message "{message_id}" appears twice (first at {first})')
        parent = external_id(record.get("parent_id"), "parent_id")
        deleted = bool(record.get("deleted"))
        self._pending[message_id] = _Pending(
            where=where,
            parent=parent,
            turn=None if deleted else message_turn(record),
            tree={k: record[k] for k in _TREE_KEYS if k in record} if parent is None else {},
        )

    def finish(self) -> list[ConversationData | Problem]:
        pending, self._pending = self._pending, {}
        children: dict[str, list[str]] = {}
        starts: list[str] = []  # roots, and orphans (whose subtrees are not reported again)
        problems: list[Problem] = []
        for message_id, item in pending.items():
            if item.parent is None:
                starts.append(message_id)
            elif item.parent in pending:
                children.setdefault(item.parent, []).append(message_id)
            else:
                starts.append(message_id)
                if item.turn is None:
                    continue  # deleted: it would be left out anyway
                problems.append(
                    item.where.problem(
                        f'message "{message_id}": its parent "{item.parent}" is not in the file'
                    )
                )
        reached = set(starts)
        stack = list(starts)
        while stack:
            for child in children.get(stack.pop(), ()):
                reached.add(child)
                stack.append(child)
        for message_id, item in pending.items():
            if message_id not in reached:
                problems.append(
                    item.where.problem(
                        f'message "{message_id}": its chain of parents loops back on itself'
                    )
                )

        def replies(message_id: str) -> list[tuple[str, TurnData]]:
            kept = [
                (child, pending[child].turn)
                for child in children.get(message_id, ())
                if pending[child].turn is not None
            ]
            _add_siblings([turn for _, turn in kept])
            return kept

        conversations: list[ConversationData] = []
        for root in starts:
            item = pending[root]
            if item.parent is not None or item.turn is None:
                continue  # an orphan (reported above) or a deleted root
            metadata = dict(item.tree)
            metadata.setdefault("message_tree_id", root)
            try:
                conversations.extend(_paths(root, item.turn, replies, metadata))
            except RecordError as exc:
                problems.append(item.where.problem(str(exc)))
        return [*conversations, *problems]
