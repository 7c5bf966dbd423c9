"""Reading the workspace's POST (evidence as JSON, rewrites against the turn's text) and
building its panels."""

import json
from urllib.parse import urlencode

from django.http import QueryDict

from annotation import answers as answer_rules
from annotation import forms
from annotation.models import Turn
from projects.models import Question

REPLY = "Wires sent before 6 p.m. ET go out today.\nLater ones go tomorrow."
SOURCES = {"policy": "Wires sent before 5 p.m. ET go out the same day."}
TURNS = [
    Turn(index=0, role="user", text="When do wires go?"),
    Turn(index=1, role="assistant", text=REPLY),
]
EVIDENCE = Question(
    key="evidence", prompt="Evidence", kind="evidence", scope="turn", roles=["assistant"]
)
REWRITE = Question(key="fix", prompt="Rewrite", kind="rewrite", scope="turn", roles=["assistant"])
NOTES = Question(key="notes", prompt="Notes", kind="text", scope="turn", roles=["assistant"])
QUESTIONS = [EVIDENCE, REWRITE, NOTES]


def post(**fields: str) -> QueryDict:
    return QueryDict(urlencode({name.replace("__", "."): value for name, value in fields.items()}))


def read(**fields: str) -> dict:
    return forms.payload_from_post(post(**fields), QUESTIONS, TURNS)


def test_an_evidence_answer_is_read_from_its_json():
    passages = [{"source": "policy", "start": 0, "end": 5, "verdict": "contradicted"}]
    payload = read(turns__1__evidence=json.dumps(passages))
    assert payload["turns"] == {"1": {"evidence": passages}}


def test_empty_evidence_is_no_answer():
    assert read(turns__1__evidence="")["turns"] == {}
    assert read(turns__1__evidence="  ")["turns"] == {}
    assert read(turns__1__evidence="[]")["turns"] == {}


def test_bad_evidence_json_is_passed_on_for_the_answer_rules_to_report():
    payload = read(turns__1__evidence="[{oops")
    assert payload["turns"] == {"1": {"evidence": "[{oops"}}
    refs = [answer_rules.TurnRef(index=t.index, role=t.role) for t in TURNS]
    _clean, errors = answer_rules.clean_answers(QUESTIONS, refs, payload["turns"], {}, SOURCES)
    assert errors == {
        "turns.1.evidence": 'expected a list of {"source", "start", "end", "verdict"}'
    }


def test_an_unchanged_rewrite_is_no_answer():
    assert read(turns__1__fix=REPLY)["turns"] == {}
    # Browsers post a textarea's line breaks as CRLF, and may add a trailing newline.
    assert read(turns__1__fix=REPLY.replace("\n", "\r\n") + "\r\n")["turns"] == {}


def test_an_edited_rewrite_is_kept_as_written():
    edited = REPLY.replace("6 p.m.", "5 p.m.")
    assert read(turns__1__fix=edited)["turns"] == {"1": {"fix": edited}}


def test_a_text_answer_equal_to_the_turn_is_still_an_answer():
    assert read(turns__1__notes=REPLY)["turns"] == {"1": {"notes": REPLY}}


def test_panels_start_a_rewrite_from_the_turn_and_show_saved_passages():
    saved = {
        "turns": {
            "1": {
                "evidence": [
                    {
                        "source": "policy",
                        "start": 0,
                        "end": 5,
                        "verdict": "supported",
                        "quote": "Wires",
                    }
                ]
            }
        },
        "conversation": {},
    }
    sources = [forms.Source(id="policy", title="Wire policy", text=SOURCES["policy"])]
    panels, _ = forms.build_panels(QUESTIONS, TURNS, saved, sources=sources)
    evidence, rewrite, notes = panels[1].fields
    assert evidence.passages == [{**saved["turns"]["1"]["evidence"][0], "title": "Wire policy"}]
    assert json.loads(evidence.evidence_json) == [
        {"source": "policy", "start": 0, "end": 5, "verdict": "supported"}
    ]
    assert rewrite.text == REPLY and notes.text == ""
    assert panels[0].fields == []


def test_a_saved_rewrite_is_shown_instead_of_the_turn():
    saved = {"turns": {"1": {"fix": "Better."}}, "conversation": {}}
    panels, _ = forms.build_panels(QUESTIONS, TURNS, saved)
    assert panels[1].fields[1].text == "Better."
    assert panels[1].fields[0].evidence_json == ""


def test_sources_keep_only_web_links():
    sources = answer_rules.conversation_sources(
        {
            "sources": [
                {"id": 1, "title": "A", "text": "a", "url": "javascript:alert(1)"},
                {"id": "b", "text": "b", "url": "https://example.com/b"},
                {"title": "no id"},
                "junk",
            ]
        }
    )
    assert sources == [
        answer_rules.Source(id="1", title="A", text="a", url=""),
        answer_rules.Source(id="b", title="b", text="b", url="https://example.com/b"),
    ]
    assert answer_rules.conversation_sources({"sources": "nope"}) == []


def test_tool_calls_of_every_shape_are_named_with_indented_arguments():
    calls = forms.tool_calls(
        {
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "lookup", "arguments": '{"q": "wire"}'},
                },
                {"name": "convert", "arguments": {"amount": 5}},
            ],
            "function_call": {"name": "legacy", "arguments": "not json"},
        }
    )
    assert calls == [
        forms.ToolCall(name="lookup", arguments='{\n  "q": "wire"\n}', id="c1"),
        forms.ToolCall(name="convert", arguments='{\n  "amount": 5\n}'),
        forms.ToolCall(name="legacy", arguments="not json"),
    ]
    assert forms.tool_calls({}) == [] and forms.tool_calls(None) == []
