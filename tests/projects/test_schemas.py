"""projects.schemas.clean_questions: every rule, and a message naming the question and field."""

import re

import pytest

from projects import schemas
from projects.exceptions import InvalidInput
from projects.models import LabelSchema
from projects.taxonomy import DEFAULT_QUESTIONS


def question(**changes):
    base = {
        "key": "tone",
        "prompt": "Is the tone right?",
        "scope": "turn",
        "roles": ["assistant"],
        "kind": "single",
        "options": [{"value": "friendly", "hotkey": "w"}, {"value": "curt", "hotkey": "c"}],
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def refused(raw, message: str) -> None:
    with pytest.raises(InvalidInput, match=re.escape(message)):
        schemas.clean_questions(raw)


# --- What a valid schema becomes ---


def test_a_valid_question_is_stored_with_defaults_filled_in():
    [cleaned] = schemas.clean_questions(
        [
            question(
                prompt="  Is the tone right?  ",
                roles=["tool", "assistant"],
                options=["friendly", {"value": "too_curt", "label": "", "hotkey": "C"}],
            )
        ]
    )

    assert cleaned == {
        "key": "tone",
        "prompt": "Is the tone right?",
        "help": "",
        "scope": "turn",
        "roles": ["assistant", "tool"],
        "kind": "single",
        "options": [
            {"value": "friendly", "label": "Friendly", "hotkey": ""},
            {"value": "too_curt", "label": "Too curt", "hotkey": "c"},
        ],
        "required": False,
        "rating_min": 1,
        "rating_max": 5,
    }


def test_a_conversation_question_drops_roles_and_a_rating_keeps_its_range():
    [cleaned] = schemas.clean_questions(
        [question(scope="conversation", kind="rating", options=None, min=0, max=9)]
    )

    assert (cleaned["roles"], cleaned["options"]) == ([], [])
    assert (cleaned["rating_min"], cleaned["rating_max"]) == (0, 9)


def test_options_of_a_question_that_has_none_are_dropped():
    [cleaned] = schemas.clean_questions([question(kind="boolean")])

    assert cleaned["options"] == []


def test_the_default_taxonomy_is_a_valid_schema():
    assert len(schemas.clean_questions(DEFAULT_QUESTIONS)) == len(DEFAULT_QUESTIONS)


# --- The list ---


@pytest.mark.parametrize("raw", [None, [], {"questions": []}, "tone"])
def test_a_schema_is_a_list_of_at_least_one_question(raw):
    refused(raw, "A schema needs a list of at least one question.")


def test_too_many_questions_are_refused():
    raw = [question(key=f"q{n}") for n in range(schemas.MAX_QUESTIONS + 1)]

    refused(raw, f"A schema holds at most {schemas.MAX_QUESTIONS} questions.")


def test_a_question_must_be_an_object():
    refused([question(), ["tone"]], "questions[2] must be an object.")


# --- Keys ---


@pytest.mark.parametrize("key", ["Tone", "1tone", "tone-level", "_tone", "t" * 65, "töne"])
def test_a_bad_key_is_named(key):
    with pytest.raises(InvalidInput, match=r"^questions\[1\]\.key") as error:
        schemas.clean_questions([question(key=key)])
    assert "lowercase letters" in error.value.message or "longer than" in error.value.message


@pytest.mark.parametrize("key", [None, "", "   "])
def test_a_missing_key_is_named(key):
    refused([question(key=key)], "questions[1].key is required.")


def test_a_duplicate_key_names_both_questions():
    refused(
        [question(), question(key="other"), question()],
        'questions[3].key "tone" is already the key of questions[1].',
    )


# --- Kind, scope, roles ---


def test_an_unknown_kind_is_named_with_the_kinds_there_are():
    refused(
        [question(kind="poll")],
        'questions[1] ("tone").kind "poll" is not a kind (expected single, multi, boolean, '
        "rating, text, rewrite, evidence).",
    )


def test_an_unknown_scope_is_named():
    refused(
        [question(scope="dialogue")],
        'questions[1] ("tone").scope "dialogue" must be "turn" or "conversation".',
    )


@pytest.mark.parametrize("roles", [["assistant", "narrator"], "assistant", [None]])
def test_an_unknown_role_is_named(roles):
    refused(
        [question(roles=roles)],
        'questions[1] ("tone").roles must be a list of: system, user, assistant, tool.',
    )


@pytest.mark.parametrize("roles", [None, []])
def test_a_turn_question_needs_roles(roles):
    refused(
        [question(roles=roles)],
        'questions[1] ("tone"): a turn question needs the roles it applies to.',
    )


@pytest.mark.parametrize("kind", ["rewrite", "evidence"])
def test_rewrite_and_evidence_are_about_a_turn(kind):
    refused(
        [question(kind=kind, scope="conversation", options=None)],
        f'questions[1] ("tone"): a {kind} question is about a turn.',
    )


# --- Options ---


@pytest.mark.parametrize("options", [None, [], "friendly"])
@pytest.mark.parametrize("kind", ["single", "multi"])
def test_a_choice_question_needs_options(kind, options):
    refused(
        [question(kind=kind, options=options)],
        'questions[1] ("tone"): a choice question needs at least one option.',
    )


def test_too_many_options_are_refused():
    options = [f"o{n}" for n in range(schemas.MAX_OPTIONS + 1)]

    refused(
        [question(options=options)],
        f'questions[1] ("tone"): at most {schemas.MAX_OPTIONS} options.',
    )


def test_an_option_must_be_an_object_or_a_value():
    refused([question(options=["ok", 3])], 'questions[1] ("tone").options[2] must be an object')


@pytest.mark.parametrize("value", ["Friendly", "2x", "a b"])
def test_a_bad_option_value_is_named(value):
    refused(
        [question(options=[{"value": value}])],
        f'questions[1] ("tone").options[1].value "{value}" may hold lowercase letters',
    )


def test_a_missing_option_value_is_named():
    refused(
        [question(options=[{"label": "Nice"}])],
        'questions[1] ("tone").options[1].value is required.',
    )


def test_a_duplicate_option_value_is_named():
    refused(
        [question(options=["nice", "rude", "nice"])],
        'questions[1] ("tone"): two options have the value "nice".',
    )


def test_a_duplicate_hotkey_is_named_even_in_another_case():
    refused(
        [question(options=[{"value": "a", "hotkey": "x"}, {"value": "b", "hotkey": "X"}])],
        'questions[1] ("tone"): two options share the hotkey "x".',
    )


@pytest.mark.parametrize("hotkey", ["j", "k", "s", "f", "g", "o", "r", "?", "J"])
def test_hotkeys_the_workspace_keeps_are_refused(hotkey):
    refused(
        [question(options=[{"value": "a", "hotkey": hotkey}])],
        f'questions[1] ("tone").options[1].hotkey "{hotkey.lower()}" is kept for the workspace '
        "(?, f, g, j, k, o, r, s).",
    )


@pytest.mark.parametrize(
    ("hotkey", "message"), [("!", "must be a letter or a digit"), ("ab", "longer than 1")]
)
def test_a_hotkey_is_one_letter_or_digit(hotkey, message):
    refused(
        [question(options=[{"value": "a", "hotkey": hotkey}])],
        'questions[1] ("tone").options[1].hotkey',
    )
    with pytest.raises(InvalidInput, match=re.escape(message)):
        schemas.clean_questions([question(options=[{"value": "a", "hotkey": hotkey}])])


def test_the_same_hotkey_in_two_questions_is_fine():
    cleaned = schemas.clean_questions([question(), question(key="other")])

    assert [o["hotkey"] for o in cleaned[1]["options"]] == ["w", "c"]


# --- Ratings ---


@pytest.mark.parametrize(("low", "high"), [(5, 5), (5, 1), (1, 11), (-5, 5)])
def test_a_rating_runs_from_min_below_max_in_at_most_ten_steps(low, high):
    refused(
        [question(kind="rating", options=None, min=low, max=high)],
        'questions[1] ("tone"): a rating runs from min to max, min below max, at most 10 steps.',
    )


@pytest.mark.parametrize(("low", "high"), [("1", 5), (1, 5.0), (True, 5), (1, [5])])
def test_rating_bounds_are_whole_numbers(low, high):
    refused(
        [question(kind="rating", options=None, min=low, max=high)],
        'questions[1] ("tone"): min and max must be whole numbers.',
    )


# --- Text fields and required ---


@pytest.mark.parametrize("required", ["yes", 1, None, "true"])
def test_required_is_true_or_false(required):
    raw = question()
    raw["required"] = required

    refused([raw], 'questions[1] ("tone").required must be true or false.')


def test_a_prompt_is_required_and_has_a_limit():
    refused([question(prompt="")], 'questions[1] ("tone").prompt is required.')
    refused(
        [question(prompt="x" * 301)], 'questions[1] ("tone").prompt is longer than 300 characters.'
    )
    refused([question(prompt=7)], 'questions[1] ("tone").prompt must be text.')


def test_help_has_a_limit():
    refused(
        [question(help="x" * 2001)], 'questions[1] ("tone").help is longer than 2000 characters.'
    )


# --- Reading a schema back out ---


@pytest.mark.django_db
def test_an_exported_schema_checks_clean_and_reads_back_the_same(project):
    exported = schemas.schema_as_dict(LabelSchema.objects.current_for(project))

    cleaned = schemas.clean_questions(exported["questions"])

    assert [q["key"] for q in cleaned] == [q["key"] for q in exported["questions"]]
    assert exported["version"] == 1
    rating = next(q for q in exported["questions"] if q["kind"] == "rating")
    assert (rating["min"], rating["max"]) == (1, 5)
    assert all("min" not in q for q in exported["questions"] if q["kind"] != "rating")
