"""Label schemas as data: checking a schema written by a lead, and reading one back out.

The JSON shape is the one the API returns with every task:
{"version", "questions": [{"key", "prompt", "help", "scope", "roles", "kind", "options":
[{"value", "label", "hotkey"}], "required", "min"?, "max"?}]}
"""

import hashlib
import re
from typing import Any

import orjson

from projects.exceptions import InvalidInput
from projects.models import ROLES, LabelSchema, Question

KEY = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
# Keys the workspace keeps for itself: j/k move between turns, s skips, f flags,
# g shows the guidelines, o opens a long turn, r shows raw text, ? lists the keys.
RESERVED_HOTKEYS = {"j", "k", "s", "f", "g", "o", "r", "?"}
MAX_RATING_STEPS = 10
MAX_QUESTIONS = 60
MAX_OPTIONS = 30


def _text(value: Any, where: str, *, required: bool, limit: int) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise InvalidInput(f"{where} must be text.")
    value = value.strip()
    if required and not value:
        raise InvalidInput(f"{where} is required.")
    if len(value) > limit:
        raise InvalidInput(f"{where} is longer than {limit} characters.")
    return value


def _key(raw: Any, where: str) -> str:
    """A question key or an option value: what exports and the API name answers by."""
    key = _text(raw, where, required=True, limit=64)
    if not KEY.match(key):
        raise InvalidInput(
            f'{where} "{key}" may hold lowercase letters, digits and "_", starting with a letter.'
        )
    return key


def _options(raw: Any, where: str) -> list[dict[str, str]]:
    if not isinstance(raw, list) or not raw:
        raise InvalidInput(f"{where}: a choice question needs at least one option.")
    if len(raw) > MAX_OPTIONS:
        raise InvalidInput(f"{where}: at most {MAX_OPTIONS} options.")
    options, values, hotkeys = [], set(), set()
    for number, option in enumerate(raw, start=1):
        at = f"{where}.options[{number}]"
        if isinstance(option, str):
            option = {"value": option}
        if not isinstance(option, dict):
            raise InvalidInput(f'{at} must be an object like {{"value", "label", "hotkey"}}.')
        value = _key(option.get("value"), f"{at}.value")
        if value in values:
            raise InvalidInput(f'{where}: two options have the value "{value}".')
        values.add(value)
        label = _text(option.get("label"), f"{at}.label", required=False, limit=120)
        hotkey = _text(option.get("hotkey"), f"{at}.hotkey", required=False, limit=1).lower()
        if hotkey:
            if hotkey in RESERVED_HOTKEYS:
                raise InvalidInput(
                    f'{at}.hotkey "{hotkey}" is kept for the workspace '
                    f"({', '.join(sorted(RESERVED_HOTKEYS))})."
                )
            if not hotkey.isalnum():
                raise InvalidInput(f'{at}.hotkey "{hotkey}" must be a letter or a digit.')
            if hotkey in hotkeys:
                raise InvalidInput(f'{where}: two options share the hotkey "{hotkey}".')
            hotkeys.add(hotkey)
        options.append(
            {
                "value": value,
                "label": label or value.replace("_", " ").capitalize(),
                "hotkey": hotkey,
            }
        )
    return options


def clean_questions(raw: Any) -> list[dict[str, Any]]:
    """Check a lead's list of questions; return them ready to store, or raise InvalidInput
    naming the question and the field that is wrong."""
    if not isinstance(raw, list) or not raw:
        raise InvalidInput("A schema needs a list of at least one question.")
    if len(raw) > MAX_QUESTIONS:
        raise InvalidInput(f"A schema holds at most {MAX_QUESTIONS} questions.")
    questions: list[dict[str, Any]] = []
    keys: dict[str, int] = {}
    for number, question in enumerate(raw, start=1):
        where = f"questions[{number}]"
        if not isinstance(question, dict):
            raise InvalidInput(f"{where} must be an object.")
        key = _key(question.get("key"), f"{where}.key")
        if key in keys:
            raise InvalidInput(f'{where}.key "{key}" is already the key of questions[{keys[key]}].')
        keys[key] = number
        where = f'{where} ("{key}")'
        kind = question.get("kind")
        if kind not in Question.Kind.values:
            raise InvalidInput(
                f'{where}.kind "{kind}" is not a kind (expected {", ".join(Question.Kind.values)}).'
            )
        scope = question.get("scope", Question.Scope.TURN)
        if scope not in Question.Scope.values:
            raise InvalidInput(f'{where}.scope "{scope}" must be "turn" or "conversation".')
        roles = question.get("roles") or []
        if not isinstance(roles, list) or any(role not in ROLES for role in roles):
            raise InvalidInput(f"{where}.roles must be a list of: {', '.join(ROLES)}.")
        if scope == Question.Scope.TURN and not roles:
            raise InvalidInput(f"{where}: a turn question needs the roles it applies to.")
        if scope == Question.Scope.CONVERSATION:
            roles = []
            if kind in (Question.Kind.REWRITE, Question.Kind.EVIDENCE):
                raise InvalidInput(f"{where}: a {kind} question is about a turn.")
        required = question.get("required", False)
        if not isinstance(required, bool):
            raise InvalidInput(f"{where}.required must be true or false.")
        cleaned = {
            "key": key,
            "prompt": _text(question.get("prompt"), f"{where}.prompt", required=True, limit=300),
            "help": _text(question.get("help"), f"{where}.help", required=False, limit=2000),
            "scope": scope,
            "roles": [role for role in ROLES if role in roles],
            "kind": kind,
            "options": [],
            "required": required,
            "rating_min": 1,
            "rating_max": 5,
        }
        if kind in Question.CHOICE_KINDS:
            cleaned["options"] = _options(question.get("options"), where)
        elif kind == Question.Kind.RATING:
            low, high = question.get("min", 1), question.get("max", 5)
            if not all(isinstance(v, int) and not isinstance(v, bool) for v in (low, high)):
                raise InvalidInput(f"{where}: min and max must be whole numbers.")
            if not low < high or high - low + 1 > MAX_RATING_STEPS:
                raise InvalidInput(
                    f"{where}: a rating runs from min to max, min below max, "
                    f"at most {MAX_RATING_STEPS} steps."
                )
            cleaned["rating_min"], cleaned["rating_max"] = low, high
        questions.append(cleaned)
    return questions


def schema_as_dict(schema: LabelSchema) -> dict[str, Any]:
    """A schema in its JSON shape (the same the API returns), ready to export."""
    questions = []
    for question in schema.questions.all():
        item = {
            "key": question.key,
            "prompt": question.prompt,
            "help": question.help,
            "scope": question.scope,
            "roles": question.roles,
            "kind": question.kind,
            "options": question.options,
            "required": question.required,
        }
        if question.kind == Question.Kind.RATING:
            item["min"], item["max"] = question.rating_min, question.rating_max
        questions.append(item)
    return {"version": schema.version, "questions": questions}


def revision(schema: LabelSchema | dict[str, Any]) -> str:
    """A fingerprint of the schema's version and questions as they are now (a schema, or
    what schema_as_dict read of it: an editor shows the rows and the revision of one read).

    An editor (the schema page, an API client) sends the one it started from with its save,
    and the save is refused if the schema changed meanwhile: one lead's save never silently
    replaces another's. Importing a JSON file replaces the schema on purpose, without it.
    """
    data = schema if isinstance(schema, dict) else schema_as_dict(schema)
    return hashlib.sha256(orjson.dumps(data, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]
