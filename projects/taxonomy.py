"""The default label schema a new project starts with (DESIGN.md, "The label taxonomy")."""

from typing import Any


def _options(*values: str, labels: dict[str, str] | None = None) -> list[dict[str, str]]:
    # Hotkeys are per question: 1..9 answer whichever question has the focus.
    labels = labels or {}
    return [
        {
            "value": value,
            "label": labels.get(value, value.replace("_", " ").capitalize()),
            "hotkey": str(number),
        }
        for number, value in enumerate(values, start=1)
    ]


DEFAULT_QUESTIONS: list[dict[str, Any]] = [
    {
        "key": "observed_behavior",
        "prompt": "What did the assistant do?",
        "help": "Everything the reply actually does. Pick all that apply.",
        "scope": "turn",
        "roles": ["assistant"],
        "kind": "multi",
        "options": _options(
            "answered",
            "asked_clarification",
            "refused",
            "deferred",
            "expressed_uncertainty",
            "cited_sources",
            labels={"asked_clarification": "Asked for clarification"},
        ),
        "required": True,
    },
    {
        "key": "expected_behavior",
        "prompt": "What should it have done?",
        "help": "The best response to this user at this point, given what the assistant knew.",
        "scope": "turn",
        "roles": ["assistant"],
        "kind": "single",
        "options": _options(
            "answer", "ask_clarification", "refuse", "defer", "express_uncertainty"
        ),
        "required": True,
    },
    {
        "key": "factuality",
        "prompt": "Are its facts right?",
        "help": "Judge claims against the sources and your expertise. "
        "Not applicable when the turn makes no claims.",
        "scope": "turn",
        "roles": ["assistant"],
        "kind": "single",
        "options": _options(
            "correct",
            "partially_correct",
            "unsupported",
            "fabricated",
            "not_applicable",
        ),
        "required": True,
    },
    {
        "key": "citation",
        "prompt": "Are its citations right?",
        "help": "",
        "scope": "turn",
        "roles": ["assistant"],
        "kind": "single",
        "options": _options(
            "correct", "wrong_source", "nonexistent_source", "missing", "not_needed"
        ),
        "required": False,
    },
    {
        "key": "hallucination_type",
        "prompt": "What did it make up?",
        "help": "Only when something was invented.",
        "scope": "turn",
        "roles": ["assistant"],
        "kind": "multi",
        "options": _options(
            "invented_policy",
            "invented_capability",
            "fabricated_steps",
            "wrong_summary",
            "other",
        ),
        "required": False,
    },
    {
        "key": "rationale",
        "prompt": "Why?",
        "help": "A sentence on what a reviewer should know about your judgment.",
        "scope": "turn",
        "roles": ["assistant"],
        "kind": "text",
        "options": [],
        "required": False,
    },
    {
        "key": "corrected_response",
        "prompt": "Corrected response",
        "help": "Rewrite the reply as it should have been. Leave empty if it was fine.",
        "scope": "turn",
        "roles": ["assistant"],
        "kind": "rewrite",
        "options": [],
        "required": False,
    },
    {
        "key": "prompt_traits",
        "prompt": "What makes this request hard?",
        "help": "",
        "scope": "turn",
        "roles": ["user"],
        "kind": "multi",
        "options": _options(
            "ambiguous",
            "false_premise",
            "wrong_terminology",
            "leading",
            "mixes_unrelated",
            "out_of_scope",
            "conflicting_constraints",
            "missing_information",
        ),
        "required": False,
    },
    {
        "key": "overall",
        "prompt": "Overall quality of the assistant in this conversation",
        "help": "1 = harmful or useless, 5 = exactly what an expert would do.",
        "scope": "conversation",
        "roles": [],
        "kind": "rating",
        "options": [],
        "rating_min": 1,
        "rating_max": 5,
        "required": False,
    },
    {
        "key": "notes",
        "prompt": "Notes",
        "help": "Anything about the whole conversation.",
        "scope": "conversation",
        "roles": [],
        "kind": "text",
        "options": [],
        "required": False,
    },
]
