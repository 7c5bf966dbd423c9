"""Every conversation format: the real sample files, then hand-made edge cases.

The samples in tests/fixtures/datasets are byte-identical copies of /work/shared/datasets
(its README has the format notes). File-level tests import them through
imports.import_conversations; the edge-case tests read records with
importers.iter_conversations and need no database.
"""

import gzip
import io
import json
from pathlib import Path

import pytest

from annotation import importers, imports
from annotation.exceptions import ImportFailed
from annotation.importers import base, formats
from annotation.models import Conversation, Task, Turn

DATASETS = Path(__file__).resolve().parent.parent / "fixtures" / "datasets"

# --- Expected counts for every sample file ----------------------------------------------
#
# (file, detected format, conversations imported, turns imported, skipped as duplicates).
# The numbers were counted by hand from the files' structure (see the comments) and are
# recounted with plain json-module code in test_expected_counts_agree_with_a_plain_count,
# which shares nothing with the parsers.
SAMPLES = [
    # 50 records, each system + user + assistant (19 assistants are tool calls).
    ("openai-chat-finetune/sample.jsonl", "openai", 50, 150, 0),
    # 3 + 9 + 2 + 2 + 3 messages.
    ("openai-chat-finetune/toy_chat_fine_tuning.jsonl", "openai", 5, 19, 0),
    # 50 x system + user + preferred assistant; the non-preferred one is an alternative.
    ("openai-preference-dpo/sample.jsonl", "preference", 50, 150, 0),
    # 50 x system + user + assistant.
    ("hf-chat-messages/sample.jsonl", "openai", 50, 150, 0),
    # 50 records of 2-12 messages: 144 messages.
    ("hf-chat-messages/kto_messages_label_llamafactory.json", "openai", 50, 144, 0),
    # 34 records, 212 messages (52 user, 34 system, 37 tool, 89 assistant).
    ("hf-chat-messages/typed_content_parts_tool_llamafactory.jsonl", "openai", 34, 212, 0),
    # 50 records, 99 human + 99 gpt.
    ("sharegpt/sample.json", "sharegpt", 50, 198, 0),
    # 12 records, 48 messages, plus a system turn for the 6 with a "system" string.
    ("sharegpt/with_system_field.json", "sharegpt", 12, 54, 0),
    # One object of 12 messages (6 human, 6 gpt).
    ("sharegpt/real_conversation_axolotl.json", "sharegpt", 1, 12, 0),
    # The same, with one empty gpt value.
    ("sharegpt/empty_turn_axolotl.json", "sharegpt", 1, 12, 0),
    # 50 records, 334 messages; records 4 and 6 are identical (4 messages), so 49 and 330.
    ("sharegpt/toolcall_glaive_llamafactory.json", "sharegpt", 49, 330, 1),
    # 50 transcripts with 242 "\n\nHuman: " and "\n\nAssistant: " markers in "chosen".
    ("hh-rlhf/sample.jsonl", "hh_rlhf", 50, 242, 0),
    # 22 trees, 234 messages, 123 leaves: one conversation per root-to-leaf path.
    ("oasst/sample_trees.jsonl", "oasst", 123, 420, 0),
    # 20 of the same trees as nested messages: 210 messages, 112 leaves.
    ("oasst/sample_nested_messages.jsonl", "oasst", 112, 375, 0),
    # 21 trees, 150 messages, 74 leaves, paths up to 11 messages long.
    ("oasst/early_backend_export_trees.jsonl", "oasst", 74, 266, 0),
    # 48 x prompt + chosen.
    ("preference-dpo/sample.jsonl", "preference", 48, 96, 0),
    # 39 records, 118 prompt messages (9 start with a system turn) + 39 chosen.
    ("preference-dpo/sharegpt_chosen_rejected_llamafactory.json", "preference", 39, 157, 0),
    # 10 x system + user + assistant (chosen_messages).
    ("preference-dpo/chosen_rejected_messages_llamafactory_v1.jsonl", "preference", 10, 30, 0),
    # Prompts with an empty "response": one user turn each.
    ("coconot/sample.jsonl", "prompt_response", 52, 52, 0),
    ("coconot/contrast_sample.jsonl", "prompt_response", 20, 20, 0),
    # 8 dialogues, 47 USER + 47 SYSTEM turns.
    ("task-oriented-sgd/sample.json", "dialogue", 8, 94, 0),
    # 5 dialogues, 42 + 42 turns.
    ("task-oriented-sgd/multi_service_sample.json", "dialogue", 5, 84, 0),
    # 10 dialogues, 60 user + 60 system turns.
    ("task-oriented-multiwoz-convlab/sample.json", "dialogue", 10, 120, 0),
    # One dialogue of 20 utterances.
    ("task-oriented-taskmaster/sample.json", "dialogue", 1, 20, 0),
]

REFUSED = [
    ("xstest/sample.csv", 1, "line 1", "this looks like CSV"),
    ("xstest/prompts_sample.csv", 1, "line 1", "this looks like CSV"),
    ("selfaware/sample.json", 1, "record 0", "this looks like a SelfAware-style question set"),
    ("squad2/sample.json", 1, "record 0", "this looks like a SQuAD reading-comprehension file"),
    ("label-studio/sample.json", 1, "record 0", "this looks like a Label Studio task or export"),
    (
        "label-studio/import_tasks_from_templates.json",
        4,
        "record 0",
        "this looks like a Label Studio task or export",
    ),
    (
        "label-studio/paragraphs_annotated_task.json",
        1,
        "record 0",
        "this looks like a Label Studio task or export",
    ),
    (
        "label-studio/paragraphs_value.json",
        4,
        "record 0",
        "this looks like Label Studio Paragraphs",
    ),
    (
        "task-oriented-sgd/schema.json",
        17,
        "record 0",
        "this looks like a Schema-Guided Dialogue schema.json entry",
    ),
]


def test_every_sample_file_is_covered():
    files = {
        str(path.relative_to(DATASETS))
        for path in DATASETS.rglob("*")
        if path.is_file() and path.name not in ("README.md", ".gitattributes")
    }
    assert files == {row[0] for row in SAMPLES} | {row[0] for row in REFUSED}


def load(relative: str) -> list:
    """The records of a sample file, read with the json module alone."""
    text = (DATASETS / relative).read_text(encoding="utf-8")
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    return value if isinstance(value, list) else [value]


def plain_paths(message: dict, depth: int = 1) -> tuple[int, int]:
    """(leaves, messages on all root-to-leaf paths) of an OASST message tree."""
    replies = [r for r in message.get("replies") or [] if not r.get("deleted")]
    if not replies:
        return 1, depth
    counts = [plain_paths(reply, depth + 1) for reply in replies]
    return sum(c for c, _ in counts), sum(t for _, t in counts)


def plain_count(fmt: str, record: dict) -> tuple[int, int]:
    """(conversations, turns) of one record, counted from its structure."""
    if fmt == "openai":
        return 1, len(record["messages"])
    if fmt == "sharegpt":
        return 1, len(record["conversations"]) + bool(record.get("system"))
    if fmt == "hh_rlhf":
        chosen = record["chosen"]
        return 1, chosen.count("\n\nHuman: ") + chosen.count("\n\nAssistant: ")
    if fmt == "oasst":
        return plain_paths(record.get("prompt", record))
    if fmt == "preference":
        if "input" in record:
            return 1, len(record["input"]["messages"]) + len(record["preferred_output"])
        if "conversations" in record:
            return 1, len(record["conversations"]) + 1
        if "chosen_messages" in record:
            return 1, len(record["chosen_messages"])
        return 1, 2
    if fmt == "prompt_response":
        return 1, 1 + bool(record.get("response"))
    assert fmt == "dialogue"
    return 1, len(record.get("turns") or record.get("utterances"))


@pytest.mark.parametrize(("relative", "fmt", "conversations", "turns", "skipped"), SAMPLES)
def test_expected_counts_agree_with_a_plain_count(relative, fmt, conversations, turns, skipped):
    records = load(relative)
    # An identical record is imported once: count each distinct record once.
    distinct = {json.dumps(r, sort_keys=True): r for r in records}
    counted = [plain_count(fmt, r) for r in distinct.values()]
    assert len(records) - len(distinct) == skipped
    assert sum(c for c, _ in counted) == conversations
    assert sum(t for _, t in counted) == turns


# --- Every sample file, imported --------------------------------------------------------


def import_file(project, relative: str, format: str | None = None) -> imports.ImportResult:
    with (DATASETS / relative).open("rb") as stream:
        return imports.import_conversations(project=project, stream=stream, format=format)


def conversations(project) -> list[Conversation]:
    return list(Conversation.objects.filter(project=project).order_by("pk"))


def turns(conversation: Conversation) -> list[Turn]:
    return list(conversation.turns.order_by("index"))


def roles(conversation: Conversation) -> list[str]:
    return [t.role for t in turns(conversation)]


@pytest.mark.django_db
@pytest.mark.parametrize(("relative", "fmt", "conversations", "turns", "skipped"), SAMPLES)
def test_sample_file_imports_with_the_expected_counts(
    project, relative, fmt, conversations, turns, skipped
):
    result = import_file(project, relative)

    assert (result.format, result.conversations, result.turns, result.skipped) == (
        fmt,
        conversations,
        turns,
        skipped,
    )
    assert Conversation.objects.filter(project=project).count() == conversations
    assert Turn.objects.filter(conversation__project=project).count() == turns
    assert Task.objects.filter(project=project).count() == conversations * project.overlap


@pytest.mark.django_db
def test_a_gzipped_sample_imports_the_same(project):
    data = gzip.compress((DATASETS / "hh-rlhf/sample.jsonl").read_bytes())
    result = imports.import_conversations(project=project, stream=io.BytesIO(data))
    assert (result.format, result.conversations, result.turns) == ("hh_rlhf", 50, 242)


@pytest.mark.django_db
def test_oasst_paths_keep_their_leaf_ids_across_export_forms(project):
    import_file(project, "oasst/sample_trees.jsonl")
    # The nested-message sample holds the first 20 of the same 22 trees: every path of it
    # is already there under its leaf's message_id.
    result = import_file(project, "oasst/sample_nested_messages.jsonl")
    assert (result.conversations, result.skipped) == (0, 112)


@pytest.mark.django_db
@pytest.mark.parametrize(("relative", "problems", "where", "message"), REFUSED)
def test_files_that_hold_no_conversations_are_refused_and_nothing_is_written(
    project, relative, problems, where, message
):
    with pytest.raises(ImportFailed) as info:
        import_file(project, relative)

    errors = info.value.errors
    first = importers.describe_problem(errors[0])
    assert first.startswith(f"{where}: {message}")
    # The same refusal is said once, then counted.
    repeats = problems - 1
    plural = "s" if repeats != 1 else ""
    summary = [{"line": None, "message": f"{repeats} more record{plural} failed the same way"}]
    assert errors[1:] == (summary if repeats else [])
    assert (Conversation.objects.count(), Turn.objects.count(), Task.objects.count()) == (0, 0, 0)


@pytest.mark.django_db
def test_refusals_say_what_to_do_instead(project):
    expected = {
        "selfaware/sample.json": "(prompt_response)",
        "squad2/sample.json": "(prompt_response)",
        "label-studio/sample.json": "(openai)",
        "label-studio/paragraphs_value.json": "map each author to user or assistant",
        "task-oriented-sgd/schema.json": "import the dialogues_*.json files instead",
    }
    for relative, advice in expected.items():
        with pytest.raises(ImportFailed) as info:
            import_file(project, relative)
        assert advice in info.value.errors[0]["message"], relative


# --- What the sample files keep ---------------------------------------------------------


@pytest.mark.django_db
def test_openai_tool_call_sample_keeps_calls_and_tools(project):
    import_file(project, "openai-chat-finetune/sample.jsonl")
    first = conversations(project)[0]
    assert roles(first) == ["system", "user", "assistant"]
    call = turns(first)[2]
    assert call.text == ""
    assert call.metadata["tool_calls"][0]["function"]["name"] == "get_last_nday_stock_price"
    assert [t["function"]["name"] for t in first.metadata["tools"]] == [
        "get_current_stock_price",
        "get_last_nday_stock_price",
    ]


@pytest.mark.django_db
def test_typed_content_parts_give_text_reasoning_and_parsed_tool_calls(project):
    import_file(project, "hf-chat-messages/typed_content_parts_tool_llamafactory.jsonl")
    second = conversations(project)[1]
    assert roles(second) == [
        "system",
        "user",
        "assistant",
        "tool",
        "assistant",
        "user",
        "assistant",
        "tool",
        "assistant",
    ]
    call, result, answer = turns(second)[2:5]
    assert call.text == ""
    assert call.metadata["reasoning"].startswith("Alright, the user wants information")
    assert call.metadata["tool_calls"] == [
        {"name": "get_movie_details", "arguments": {"title": "Inception"}}
    ]
    assert result.text.startswith('[{"title": "Inception"')
    assert answer.text.startswith('Here are the key details about the movie "Inception"')
    assert "tool_calls" not in answer.metadata
    # "tools" is a JSON string in this format and stays one.
    assert second.metadata["tools"].startswith('[{"type": "function"')


@pytest.mark.django_db
def test_kto_label_is_kept_on_every_conversation(project):
    import_file(project, "hf-chat-messages/kto_messages_label_llamafactory.json")
    labels = [c.metadata["label"] for c in conversations(project)]
    # The datasets README: label is true 32 times and false 18 times.
    assert (labels.count(True), labels.count(False)) == (32, 18)
    assert conversations(project)[0].metadata == {"label": True}


@pytest.mark.django_db
def test_hf_messages_keep_the_system_prompt_first(project):
    import_file(project, "hf-chat-messages/sample.jsonl")
    first = conversations(project)[0]
    assert roles(first) == ["system", "user", "assistant"]
    assert turns(first)[2].text.endswith("#### 72!!!")


@pytest.mark.django_db
def test_sharegpt_sample_keeps_ids_and_alternation(project):
    import_file(project, "sharegpt/sample.json")
    first = Conversation.objects.get(project=project, external_id="identity_0")
    assert roles(first) == ["user", "assistant", "user", "assistant"]
    assert turns(first)[1].text.startswith("I am Vicuna")
    assert first.metadata == {}


@pytest.mark.django_db
def test_sharegpt_system_field_becomes_a_first_system_turn(project):
    import_file(project, "sharegpt/with_system_field.json")
    firsts = [roles(c)[0] for c in conversations(project)]
    assert firsts == ["system"] * 6 + ["user"] * 6
    assert turns(conversations(project)[0])[0].text.startswith("A chat between a curious user")


@pytest.mark.django_db
def test_sharegpt_empty_value_is_an_empty_turn(project):
    import_file(project, "sharegpt/empty_turn_axolotl.json")
    [conversation] = conversations(project)
    assert conversation.external_id.startswith("sha256:")
    assert [(t.role, t.text) for t in turns(conversation)[:2]] == [
        (
            "user",
            "how could i implement a minesweeper algorithm that utilises algebraic "
            "topology to solve boards?",
        ),
        ("assistant", ""),
    ]


@pytest.mark.django_db
def test_glaive_function_calls_and_observations_keep_their_meaning(project):
    import_file(project, "sharegpt/toolcall_glaive_llamafactory.json")
    first = conversations(project)[0]
    assert roles(first) == [
        "user",
        "assistant",
        "user",
        "assistant",  # function_call
        "tool",  # observation
        "assistant",
        "user",
        "assistant",
    ]
    call, observation = turns(first)[3:5]
    assert call.text.startswith('{"name": "search_recipes"')
    assert call.metadata == {
        "original_role": "function_call",
        "function_call": {
            "name": "search_recipes",
            "arguments": {"ingredients": ["chicken", "bell peppers", "rice"]},
        },
    }
    assert observation.metadata == {"original_role": "observation"}
    assert first.metadata["tools"].startswith('[{"name": "search_recipes"')


@pytest.mark.django_db
def test_hh_rlhf_splits_only_on_markers_and_keeps_the_rejected_reply(project):
    import_file(project, "hh-rlhf/sample.jsonl")
    every = conversations(project)
    # Line 30: assistant replies that begin with "Human: " stay assistant text.
    line_30 = every[29]
    assert roles(line_30) == ["user", "assistant"] * 4
    assert turns(line_30)[5].text.startswith("Human: So she doesn\u2019t like rap music")
    last = turns(line_30)[-1]
    assert last.text.startswith("Human: No, you are racist.")
    [alternative] = last.metadata["alternatives"]
    assert alternative["source"] == "rejected"
    assert alternative["text"].startswith("Human: She does not like black musicians.")
    assert last.metadata["preferred"] is True
    # In all 50 records chosen and rejected differ only in the last reply.
    assert not any("rejected_transcript" in c.metadata for c in every)
    assert all("alternatives" in turns(c)[-1].metadata for c in every)


@pytest.mark.django_db
def test_oasst_tree_paths_keep_ranks_and_sibling_alternatives(project):
    import_file(project, "oasst/sample_trees.jsonl")
    path = Conversation.objects.get(external_id="fa783ef0-4f4e-457d-b429-afd89edf8757")
    assert path.metadata == {
        "message_tree_id": "054e1df3-35e0-4bb8-a585-607dbdcd24e0",
        "tree_state": "ready_for_export",
    }
    prompt, reply = turns(path)
    assert (prompt.role, reply.role) == ("user", "assistant")
    assert prompt.text == "How can I find the best 401k plan for my needs?"
    assert prompt.metadata["message_id"] == "054e1df3-35e0-4bb8-a585-607dbdcd24e0"
    assert "alternatives" not in prompt.metadata
    assert reply.metadata["rank"] == 0
    assert reply.metadata["model_name"] == "chip20b"
    assert [
        (a["message_id"][:8], a["rank"], a["source"]) for a in reply.metadata["alternatives"]
    ] == [
        ("03334b2a", 1, "oasst_sibling"),
        ("8f5fa95e", 2, "oasst_sibling"),
    ]
    # The three answers to that prompt are three conversations of the same tree.
    tree = Conversation.objects.filter(
        metadata__message_tree_id="054e1df3-35e0-4bb8-a585-607dbdcd24e0"
    )
    assert tree.count() == 3


@pytest.mark.django_db
def test_oasst_nested_messages_are_the_same_trees(project):
    import_file(project, "oasst/sample_nested_messages.jsonl")
    path = Conversation.objects.get(external_id="fa783ef0-4f4e-457d-b429-afd89edf8757")
    # Nested lines carry no tree id: the root's message_id is the tree's id.
    assert path.metadata == {"message_tree_id": "054e1df3-35e0-4bb8-a585-607dbdcd24e0"}
    reply = turns(path)[1]
    assert reply.metadata["labels"] is None and reply.metadata["emojis"] is None
    assert len(reply.metadata["alternatives"]) == 2


@pytest.mark.django_db
def test_oasst_early_export_keeps_deep_paths(project):
    import_file(project, "oasst/early_backend_export_trees.jsonl")
    assert max(c.turn_count for c in conversations(project)) == 11
    first = conversations(project)[0]
    assert "tree_state" not in first.metadata
    assert roles(first)[:2] == ["user", "assistant"]


@pytest.mark.django_db
def test_openai_dpo_keeps_the_non_preferred_output_as_an_alternative(project):
    import_file(project, "openai-preference-dpo/sample.jsonl")
    first = conversations(project)[0]
    assert roles(first) == ["system", "user", "assistant"]
    assert first.metadata == {}
    answer = turns(first)[2]
    assert answer.text.startswith("Step 1: Identify the names and phrases")
    assert answer.metadata["preferred"] is True
    [alternative] = answer.metadata["alternatives"]
    assert alternative == {"text": alternative["text"], "source": "non_preferred_output"}
    assert alternative["text"].startswith("Sure, I'd be happy to help!")


@pytest.mark.django_db
def test_coconot_preference_pairs_keep_id_category_and_rejected(project):
    import_file(project, "preference-dpo/sample.jsonl")
    pair = Conversation.objects.get(external_id="2whmibs")
    assert pair.metadata == {
        "category": "Requests with safety concerns",
        "subcategory": "triggers for offensive language",
        "chosen_model": "gpt-4",
        "rejected_model": "",
    }
    prompt, answer = turns(pair)
    assert (prompt.role, answer.role) == ("user", "assistant")
    assert prompt.text.startswith("Teach me about the different religious backgrounds")
    assert answer.metadata["alternatives"][0]["text"].startswith("As an AI language model")
    assert answer.metadata["alternatives"][0]["source"] == "rejected"


@pytest.mark.django_db
def test_llamafactory_pairs_keep_a_leading_system_turn(project):
    import_file(project, "preference-dpo/sharegpt_chosen_rejected_llamafactory.json")
    every = conversations(project)
    # The datasets README: 9 records start with a "system" turn.
    assert sum(roles(c)[0] == "system" for c in every) == 9
    assert all(turns(c)[-1].metadata["preferred"] is True for c in every)
    assert all(roles(c)[-1] == "assistant" for c in every)


@pytest.mark.django_db
def test_llamafactory_v1_pairs_keep_loss_weights(project):
    import_file(project, "preference-dpo/chosen_rejected_messages_llamafactory_v1.jsonl")
    first = conversations(project)[0]
    assert [t.metadata.get("loss_weight") for t in turns(first)] == [0.0, 0.0, 1.0]
    answer = turns(first)[2]
    [alternative] = answer.metadata["alternatives"]
    assert alternative["source"] == "rejected"
    assert alternative["metadata"] == {"loss_weight": 1.0}
    assert first.metadata == {}


@pytest.mark.django_db
def test_coconot_prompts_are_single_user_turns(project):
    import_file(project, "coconot/sample.jsonl")
    prompt = Conversation.objects.get(external_id="bajp42a")
    assert roles(prompt) == ["user"]
    assert prompt.metadata == {
        "category": "Requests with safety concerns",
        "subcategory": "dangerous or sensitive topics",
    }


@pytest.mark.django_db
def test_sgd_dialogues_keep_frames_and_services(project):
    import_file(project, "task-oriented-sgd/sample.json")
    dialogue = Conversation.objects.get(external_id="1_00000")
    assert dialogue.metadata == {"services": ["Restaurants_2"]}
    assert roles(dialogue) == ["user", "assistant"] * 6
    first = turns(dialogue)[0]
    assert first.text.startswith("I want to make a restaurant reservation for 2 people")
    assert first.metadata["frames"][0]["service"] == "Restaurants_2"


@pytest.mark.django_db
def test_sgd_multi_service_turns_keep_both_frames(project):
    import_file(project, "task-oriented-sgd/multi_service_sample.json")
    turn = turns(Conversation.objects.get(external_id="10_00001"))[10]
    assert turn.text == "Thanks, what is the weather going to be like?"
    assert [f["service"] for f in turn.metadata["frames"]] == ["Weather_1", "Media_2"]


@pytest.mark.django_db
def test_multiwoz_dialogues_keep_goal_acts_and_state(project):
    import_file(project, "task-oriented-multiwoz-convlab/sample.json")
    dialogue = Conversation.objects.get(external_id="multiwoz21-train-0")
    assert dialogue.metadata["original_id"] == "SNG01856.json"
    assert "<span class='emphasis'>" in dialogue.metadata["goal"]["description"]
    user, system = turns(dialogue)[:2]
    assert (user.role, system.role) == ("user", "assistant")
    assert set(user.metadata) == {"utt_idx", "dialogue_acts", "state"}
    assert set(system.metadata) == {"utt_idx", "dialogue_acts", "booked"}


@pytest.mark.django_db
def test_taskmaster_utterances_keep_segments(project):
    import_file(project, "task-oriented-taskmaster/sample.json")
    [dialogue] = conversations(project)
    assert dialogue.external_id == "dlg-00055f4e-4a46-48bf-8d99-4e477663eb23"
    assert dialogue.metadata == {"instruction_id": "restaurant-table-2"}
    turn = turns(dialogue)[3]
    assert (turn.role, turn.metadata["index"]) == ("assistant", 3)
    assert turn.metadata["segments"][0]["text"] == "Thursday Kitche"


# --- Edge cases, record by record (no database) -----------------------------------------


def jsonl(*records) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in records)


def read(data: bytes, format: str | None = None) -> list[tuple]:
    return list(importers.iter_conversations(io.BytesIO(data), format))


def parse(record, format: str | None = None) -> importers.ConversationData:
    [(_where, item, _format)] = read(jsonl(record), format)
    assert isinstance(item, importers.ConversationData), item
    return item


def parse_all(*records, format: str | None = None) -> list[importers.ConversationData]:
    items = [item for _where, item, _format in read(jsonl(*records), format)]
    assert all(isinstance(i, importers.ConversationData) for i in items), items
    return items


def problem(record, format: str | None = None) -> str:
    [(_where, item, _format)] = read(jsonl(record), format)
    assert isinstance(item, importers.Problem), item
    return item.message


def detected(record) -> str:
    [(_where, _item, fmt)] = read(jsonl(record))
    return fmt


def pairs(conversation: importers.ConversationData) -> list[tuple[str, str]]:
    return [(t.role, t.text) for t in conversation.turns]


def test_formats_lists_every_parser_once():
    assert sorted(importers.FORMATS) == sorted(formats.PARSERS)


def test_unknown_record_error_lists_every_format():
    message = problem({"conversation": "Hi"})
    for name in importers.FORMATS:
        assert f"; {name} " in message or f"expected one of: {name} " in message


@pytest.mark.parametrize(
    ("record", "fmt"),
    [
        ({"turns": [{"role": "user", "text": "Hi"}]}, "native"),
        ({"turns": [{"speaker": "USER", "utterance": "Hi"}]}, "dialogue"),
        ({"dialogue_id": "d1", "turns": [{"speaker": "user", "utterance": "Hi"}]}, "dialogue"),
        ({"conversation_id": "c", "utterances": [{"speaker": "USER", "text": "Hi"}]}, "dialogue"),
        ({"messages": [{"role": "user", "content": "Hi"}], "label": False}, "openai"),
        ({"conversations": [{"from": "human", "value": "Hi"}]}, "sharegpt"),
        (
            {
                "conversations": [{"from": "human", "value": "Hi"}],
                "chosen": {"from": "gpt", "value": "Hello"},
                "rejected": {"from": "gpt", "value": "Go away"},
            },
            "preference",
        ),
        ({"prompt": "Hi", "chosen": "Hello", "rejected": "No"}, "preference"),
        ({"chosen": "\n\nHuman: Hi\n\nAssistant: Hello", "rejected": "x"}, "hh_rlhf"),
        ({"prompt": "Hi", "response": ""}, "prompt_response"),
        ({"message_tree_id": "t", "prompt": {"role": "prompter", "text": "Hi"}}, "oasst"),
        ({"message_id": "m", "parent_id": None, "role": "prompter", "text": "Hi"}, "oasst"),
    ],
)
def test_format_is_detected(record, fmt):
    assert detected(record) == fmt


# --- openai ---


def test_typed_parts_join_text_in_order_and_keep_reasoning_and_calls():
    message = {
        "role": "assistant",
        "content": [
            {"type": "reasoning", "value": "Think."},
            {"type": "text", "value": "One"},
            {"type": "tool_call", "value": '{"name": "f", "arguments": {"x": 1}}'},
            {"type": "reasoning", "value": "Again."},
            {"type": "text", "value": "Two"},
            {"type": "tool_call", "value": "not json"},
        ],
        "loss_weight": 1.0,
    }
    conversation = parse({"messages": [message], "tools": "[]"})
    turn = conversation.turns[0]
    assert turn.text == "One\nTwo"
    assert turn.metadata == {
        "loss_weight": 1.0,
        "reasoning": "Think.\nAgain.",
        "tool_calls": [{"name": "f", "arguments": {"x": 1}}, "not json"],
    }
    assert conversation.metadata == {"tools": "[]"}


def test_a_tool_call_with_an_escaped_nul_stays_a_string():
    value = '{"name": "f\\u0000"}'
    message = {"role": "assistant", "content": [{"type": "tool_call", "value": value}]}
    assert parse({"messages": [message]}).turns[0].metadata["tool_calls"] == [value]


# --- sharegpt ---


@pytest.mark.parametrize(
    ("source", "role", "original"),
    [
        ("human", "user", None),
        ("user", "user", None),
        ("gpt", "assistant", None),
        ("assistant", "assistant", None),
        ("chatgpt", "assistant", "chatgpt"),
        ("bing", "assistant", "bing"),
        ("bard", "assistant", "bard"),
        ("system", "system", None),
        ("observation", "tool", "observation"),
        ("tool", "tool", None),
        ("function", "tool", "function"),
        ("Human", "user", None),
        ("GPT", "assistant", None),
    ],
)
def test_sharegpt_from_names_map_to_roles(source, role, original):
    turn = parse({"conversations": [{"from": source, "value": "x"}]}).turns[0]
    assert turn.role == role
    assert turn.metadata.get("original_role") == original


def test_sharegpt_function_call_keeps_its_text_and_the_parsed_call():
    value = '{"name": "f", "arguments": {"x": 1}}'
    turn = parse({"conversations": [{"from": "function_call", "value": value}]}).turns[0]
    assert (turn.role, turn.text) == ("assistant", value)
    assert turn.metadata["function_call"] == {"name": "f", "arguments": {"x": 1}}


def test_sharegpt_function_call_that_is_not_json_is_kept_as_a_string():
    turn = parse({"conversations": [{"from": "function_call", "value": "f(x=1)"}]}).turns[0]
    assert turn.metadata["function_call"] == "f(x=1)"


def test_sharegpt_keeps_id_system_tools_and_other_keys():
    conversation = parse(
        {
            "id": 7,
            "system": "Be brief.",
            "tools": '[{"name": "f"}]',
            "source": "crawl",
            "conversations": [
                {"from": "human", "value": "Hi", "markdown": False},
                {"from": "gpt", "value": ""},
            ],
        }
    )
    assert conversation.external_id == "7"
    assert pairs(conversation) == [("system", "Be brief."), ("user", "Hi"), ("assistant", "")]
    assert conversation.turns[1].metadata == {"markdown": False}
    assert conversation.metadata == {"tools": '[{"name": "f"}]', "source": "crawl"}


def test_sharegpt_empty_system_adds_no_turn():
    conversation = parse({"system": "", "conversations": [{"from": "human", "value": "Hi"}]})
    assert pairs(conversation) == [("user", "Hi")]


def test_sharegpt_accepts_openai_messages_inside_conversations():
    record = {"conversations": [{"role": "user", "content": "Hi"}]}
    assert pairs(parse(record)) == [("user", "Hi")]


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        (
            {"conversations": [{"from": "human", "value": "Hi"}, {"from": "bot", "value": "x"}]},
            'turn 2: unknown "from" "bot" (expected human, user, gpt, assistant, chatgpt, '
            "bing, bard, system, function_call, observation, tool, function)",
        ),
        (
            {"conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt"}]},
            'turn 2: missing "value"',
        ),
        ({"conversations": [{"value": "Hi"}]}, 'turn 1: missing "from"'),
        ({"conversations": ["Hi"]}, 'turn 1: expected an object with "from" and "value"'),
        (
            {"conversations": [{"from": "human", "value": None}]},
            "turn 1: text must be a string, got NoneType",
        ),
        ({"conversations": []}, "a conversation needs at least one turn"),
        (
            {"system": ["x"], "conversations": [{"from": "human", "value": "Hi"}]},
            '"system" must be a string, got an array',
        ),
    ],
)
def test_bad_sharegpt_records_are_named(record, expected):
    assert problem(record) == expected


def test_missing_conversations_is_named_when_the_format_is_given():
    assert problem({"id": "x"}, "sharegpt") == (
        'missing "conversations" (a list of {"from", "value"})'
    )


# --- hh_rlhf ---

HH_PREFIX = "\n\nHuman: Hi\n\nAssistant: Hello\n\nHuman: Tell me"


def test_hh_splits_only_on_marker_lines():
    record = {
        "chosen": "\n\nHuman: Hi\n\nAssistant: Human: is a word.\nAssistant: too\n\nHuman: ok",
        "rejected": "\n\nHuman: Hi\n\nAssistant: Human: is a word.\nAssistant: too\n\nHuman: ok",
    }
    assert pairs(parse(record)) == [
        ("user", "Hi"),
        ("assistant", "Human: is a word.\nAssistant: too"),
        ("user", "ok"),
    ]


def test_hh_same_prefix_puts_the_rejected_reply_on_the_last_turn():
    conversation = parse(
        {"chosen": HH_PREFIX + "\n\nAssistant: Sure.", "rejected": HH_PREFIX + "\n\nAssistant: No."}
    )
    assert pairs(conversation)[-2:] == [("user", "Tell me"), ("assistant", "Sure.")]
    assert conversation.turns[-1].metadata == {
        "alternatives": [{"text": "No.", "source": "rejected"}],
        "preferred": True,
    }
    assert conversation.metadata == {}


def test_hh_different_transcripts_keep_the_rejected_one_whole():
    rejected = "\n\nHuman: Hello?\n\nAssistant: No."
    conversation = parse({"chosen": HH_PREFIX + "\n\nAssistant: Sure.", "rejected": rejected})
    assert conversation.metadata == {"rejected_transcript": rejected}
    assert conversation.turns[-1].metadata["alternatives"] == [
        {"text": "No.", "source": "rejected"}
    ]


def test_hh_identical_transcripts_add_nothing():
    transcript = HH_PREFIX + "\n\nAssistant: Sure."
    conversation = parse({"chosen": transcript, "rejected": transcript})
    assert conversation.turns[-1].metadata == {} and conversation.metadata == {}


def test_hh_transcript_without_leading_newlines_and_with_an_empty_last_reply():
    conversation = parse(
        {"chosen": "Human: Hi\n\nAssistant:", "rejected": "Human: Hi\n\nAssistant: x"}
    )
    assert pairs(conversation) == [("user", "Hi"), ("assistant", "")]
    assert conversation.turns[-1].metadata["alternatives"][0]["text"] == "x"


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        (
            {"chosen": "Hi there. Hello!", "rejected": "\n\nHuman: Hi"},
            '"chosen" has no "\\n\\nHuman: " or "\\n\\nAssistant: " markers to split it into turns',
        ),
        (
            {"chosen": "\n\nHuman: Hi", "rejected": "Human:Hi"},
            '"rejected" has no "\\n\\nHuman: " or "\\n\\nAssistant: " markers '
            "to split it into turns",
        ),
        (
            {"chosen": "Preamble\n\nHuman: Hi", "rejected": "\n\nHuman: Hi"},
            '"chosen" has text before its first "\\n\\nHuman: " marker',
        ),
    ],
)
def test_bad_hh_transcripts_are_named(record, expected):
    assert problem(record) == expected


def test_hh_record_without_rejected_is_named_when_the_format_is_given():
    assert problem({"chosen": "\n\nHuman: Hi"}, "hh_rlhf") == (
        'missing "rejected" (a Human:/Assistant: transcript)'
    )


# --- preference ---


def test_string_preference_becomes_prompt_and_chosen_with_the_rejected_alternative():
    conversation = parse(
        {"id": "p1", "prompt": "Q?", "chosen": "A.", "rejected": "No.", "category": "c"}
    )
    assert conversation.external_id == "p1"
    assert pairs(conversation) == [("user", "Q?"), ("assistant", "A.")]
    assert conversation.turns[1].metadata == {
        "alternatives": [{"text": "No.", "source": "rejected"}],
        "preferred": True,
    }
    assert conversation.metadata == {"category": "c"}


def test_trl_conversational_preference_uses_prompt_messages():
    conversation = parse(
        {
            "prompt": [
                {"role": "system", "content": "Be kind."},
                {"role": "user", "content": "Q?"},
            ],
            "chosen": [{"role": "assistant", "content": "A."}],
            "rejected": [{"role": "assistant", "content": "No."}],
        }
    )
    assert pairs(conversation) == [("system", "Be kind."), ("user", "Q?"), ("assistant", "A.")]
    assert conversation.turns[2].metadata["alternatives"] == [{"text": "No.", "source": "rejected"}]


def test_trl_implicit_prompt_takes_the_chosen_conversation():
    shared = [{"role": "user", "content": "Q?"}]
    conversation = parse(
        {
            "chosen": [*shared, {"role": "assistant", "content": "A."}],
            "rejected": [*shared, {"role": "assistant", "content": "No."}],
        }
    )
    assert pairs(conversation) == [("user", "Q?"), ("assistant", "A.")]
    assert conversation.turns[0].metadata == {}
    assert conversation.turns[1].metadata["preferred"] is True


def test_prompt_beside_whole_conversations_is_not_repeated_as_turns():
    shared = [{"role": "user", "content": "Q?"}]
    conversation = parse(
        {
            "prompt": "Q?",
            "chosen": [*shared, {"role": "assistant", "content": "A."}],
            "rejected": [*shared, {"role": "assistant", "content": "No."}],
        }
    )
    assert pairs(conversation) == [("user", "Q?"), ("assistant", "A.")]
    assert conversation.metadata == {"prompt": "Q?"}


def test_openai_dpo_keeps_input_tools_in_conversation_metadata():
    tools = [{"type": "function", "function": {"name": "f"}}]
    conversation = parse(
        {
            "input": {"messages": [{"role": "user", "content": "Q?"}], "tools": tools},
            "preferred_output": [{"role": "assistant", "content": "A."}],
            "non_preferred_output": [{"role": "assistant", "content": "No."}],
        }
    )
    assert pairs(conversation) == [("user", "Q?"), ("assistant", "A.")]
    assert conversation.metadata == {"tools": tools}
    assert conversation.turns[1].metadata["alternatives"] == [
        {"text": "No.", "source": "non_preferred_output"}
    ]


def test_llamafactory_pair_keeps_the_system_field_and_rejected():
    conversation = parse(
        {
            "system": "Be kind.",
            "conversations": [{"from": "human", "value": "Q?"}],
            "chosen": {"from": "gpt", "value": "A."},
            "rejected": {"from": "gpt", "value": "No."},
        }
    )
    assert pairs(conversation) == [("system", "Be kind."), ("user", "Q?"), ("assistant", "A.")]
    assert conversation.turns[2].metadata["alternatives"] == [{"text": "No.", "source": "rejected"}]
    assert conversation.metadata == {}


def test_a_longer_rejected_side_keeps_its_continuation():
    conversation = parse(
        {
            "prompt": "Q?",
            "chosen": [{"role": "assistant", "content": "A."}],
            "rejected": [
                {"role": "assistant", "content": "Let me look.", "tool_calls": [{"id": "1"}]},
                {"role": "tool", "content": "42"},
            ],
        }
    )
    [alternative] = conversation.turns[1].metadata["alternatives"]
    assert alternative == {
        "text": "Let me look.",
        "source": "rejected",
        "metadata": {"tool_calls": [{"id": "1"}]},
        "continuation": [{"role": "tool", "text": "42"}],
    }


def test_identical_sides_keep_the_rejected_value_in_metadata():
    conversation = parse({"prompt": "Q?", "chosen": "A.", "rejected": "A."})
    assert conversation.turns[1].metadata == {}
    assert conversation.metadata == {"rejected": "A."}


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        (
            {"prompt": "Q?", "chosen": 5, "rejected": "No."},
            '"chosen" must be a string or a list of messages, got int',
        ),
        (
            {"prompt": {"text": "Q?"}, "chosen": "A.", "rejected": "No."},
            '"prompt" must be a string or a list of messages, got dict',
        ),
        (
            {"prompt": "Q?", "chosen": [], "rejected": "No."},
            '"chosen" is empty',
        ),
        (
            {"prompt": "Q?", "chosen": [{"role": "bot", "content": "A."}], "rejected": "No."},
            'chosen message 1: unknown role "bot" (expected system, developer, user, '
            "assistant, tool, function)",
        ),
        (
            {
                "input": {"messages": [{"role": "user", "content": "Q?"}]},
                "preferred_output": [{"role": "assistant", "content": "A."}],
            },
            'missing "non_preferred_output" (a list of {"role", "content"})',
        ),
        ({"prompt": "Q?", "chosen": "A."}, 'missing "rejected" beside "chosen"'),
        (
            {"preferred_output": [], "non_preferred_output": []},
            'missing "input" (an object with "messages")',
        ),
        (
            {"conversations": [{"from": "human", "value": "Q?"}], "chosen": "A.", "rejected": {}},
            '"chosen": expected an object with "from" and "value"',
        ),
    ],
)
def test_bad_preference_records_are_named(record, expected):
    assert problem(record, "preference") == expected


# --- prompt_response ---


def test_prompt_with_an_empty_response_is_one_user_turn():
    conversation = parse({"id": "q1", "prompt": "Q?", "response": "", "category": "c"})
    assert (conversation.external_id, pairs(conversation)) == ("q1", [("user", "Q?")])
    assert conversation.metadata == {"category": "c"}


@pytest.mark.parametrize("key", ["response", "completion", "output"])
def test_prompt_with_an_answer_is_two_turns(key):
    conversation = parse({"prompt": "Q?", key: "A.", "label": True})
    assert pairs(conversation) == [("user", "Q?"), ("assistant", "A.")]
    assert conversation.metadata == {"label": True}


def test_trl_conversational_prompt_completion():
    conversation = parse(
        {
            "prompt": [{"role": "user", "content": "Q?"}],
            "completion": [{"role": "assistant", "content": "A."}],
            "label": False,
        }
    )
    assert pairs(conversation) == [("user", "Q?"), ("assistant", "A.")]
    assert conversation.metadata == {"label": False}


def test_prompt_response_with_a_bad_response_is_named():
    assert problem({"prompt": "Q?", "response": 3}) == (
        '"response" must be a string or a list of messages, got int'
    )


# --- oasst ---


def message(message_id, role, text, parent=None, **extra) -> dict:
    return {"message_id": message_id, "parent_id": parent, "role": role, "text": text, **extra}


def tree() -> dict:
    return {
        "message_tree_id": "r",
        "tree_state": "ready_for_export",
        "origin": "web",
        "prompt": {
            "message_id": "r",
            "role": "prompter",
            "text": "Q?",
            "lang": "en",
            "replies": [
                {
                    "message_id": "a1",
                    "parent_id": "r",
                    "role": "assistant",
                    "text": "A1",
                    "rank": 0,
                    "emojis": {"+1": 2},
                    "replies": [
                        {
                            "message_id": "q2",
                            "parent_id": "a1",
                            "role": "prompter",
                            "text": "More?",
                            "replies": [],
                        }
                    ],
                },
                {
                    "message_id": "a2",
                    "parent_id": "r",
                    "role": "assistant",
                    "text": "A2",
                    "rank": 1,
                },
                {
                    "message_id": "a3",
                    "parent_id": "r",
                    "role": "assistant",
                    "text": "gone",
                    "deleted": True,
                    "replies": [{"message_id": "x", "role": "prompter", "text": "lost"}],
                },
            ],
        },
    }


def test_oasst_tree_becomes_one_conversation_per_path_without_deleted_messages():
    first, second = parse_all(tree())
    assert (first.external_id, second.external_id) == ("q2", "a2")
    assert pairs(first) == [("user", "Q?"), ("assistant", "A1"), ("user", "More?")]
    assert pairs(second) == [("user", "Q?"), ("assistant", "A2")]
    assert first.metadata == {
        "message_tree_id": "r",
        "tree_state": "ready_for_export",
        "origin": "web",
    }
    answer = first.turns[1]
    assert answer.metadata == {
        "message_id": "a1",
        "rank": 0,
        "emojis": {"+1": 2},
        "alternatives": [{"text": "A2", "source": "oasst_sibling", "message_id": "a2", "rank": 1}],
    }
    assert second.turns[1].metadata["alternatives"] == [
        {"text": "A1", "source": "oasst_sibling", "message_id": "a1", "rank": 0}
    ]
    assert first.turns[0].metadata == {"message_id": "r", "lang": "en"}


def test_oasst_nested_message_line_is_a_tree():
    root = tree()["prompt"]
    conversations = parse_all(root)
    assert [c.external_id for c in conversations] == ["q2", "a2"]
    assert conversations[0].metadata == {"message_tree_id": "r"}


def test_oasst_alternatives_are_capped():
    replies = [message(f"a{i}", "assistant", f"A{i}", "r", replies=[]) for i in range(13)]
    conversations = parse_all({**message("r", "prompter", "Q?"), "replies": replies})
    assert len(conversations) == 13
    answer = conversations[0].turns[1]
    assert len(answer.metadata["alternatives"]) == base.MAX_ALTERNATIVES
    assert answer.metadata["alternatives_omitted"] == 12 - base.MAX_ALTERNATIVES


def test_oasst_flat_messages_in_any_order_are_built_at_the_end():
    records = [
        message("q2", "prompter", "More?", "a1", message_tree_id="r", tree_state="ready"),
        message("a1", "assistant", "A1", "r", rank=0, message_tree_id="r"),
        message("r", "prompter", "Q?", message_tree_id="r", tree_state="ready"),
        message("a2", "assistant", "A2", "r", rank=1, message_tree_id="r"),
        message("a3", "assistant", "gone", "r", deleted=True),
        message("q3", "prompter", "lost", "a3"),
    ]
    rows = read(jsonl(*records))
    assert all(fmt == "oasst" for _where, _item, fmt in rows)
    first, second = (item for _where, item, _fmt in rows)
    assert [first.external_id, second.external_id] == ["q2", "a2"]
    assert pairs(first) == [("user", "Q?"), ("assistant", "A1"), ("user", "More?")]
    assert first.metadata == {"message_tree_id": "r", "tree_state": "ready"}
    assert first.turns[1].metadata == {
        "message_id": "a1",
        "rank": 0,
        "alternatives": [{"text": "A2", "source": "oasst_sibling", "message_id": "a2", "rank": 1}],
    }


def test_oasst_flat_message_whose_parent_never_appears_is_a_problem_at_its_line():
    records = [
        message("r", "prompter", "Q?"),
        message("a1", "assistant", "A1", "r"),
        message("a2", "assistant", "A2", "nowhere"),
        message("q3", "prompter", "Below the orphan", "a2"),
        message("a4", "assistant", "Deleted, so no matter", "nowhere", deleted=True),
    ]
    items = [item for _where, item, _fmt in read(jsonl(*records))]
    problems = [i for i in items if isinstance(i, importers.Problem)]
    assert [(p.line, p.message) for p in problems] == [
        (3, 'message "a2": its parent "nowhere" is not in the file')
    ]
    assert [i.external_id for i in items if isinstance(i, importers.ConversationData)] == ["a1"]


@pytest.mark.django_db
def test_oasst_orphan_fails_the_whole_import(project):
    data = jsonl(message("r", "prompter", "Q?"), message("a", "assistant", "A", "gone"))
    with pytest.raises(ImportFailed) as info:
        imports.import_conversations(project=project, stream=io.BytesIO(data))
    assert info.value.errors == [
        {"line": 2, "message": 'message "a": its parent "gone" is not in the file'}
    ]
    assert Conversation.objects.count() == 0


def test_oasst_flat_duplicate_and_looping_messages_are_problems():
    records = [
        message("r", "prompter", "Q?"),
        message("r", "prompter", "Again"),
        message("x", "assistant", "A", "y"),
        message("y", "prompter", "B", "x"),
    ]
    problems = [
        (item.line, item.message)
        for _where, item, _fmt in read(jsonl(*records))
        if isinstance(item, importers.Problem)
    ]
    assert problems == [
        (2, 'message "r" appears twice (first at line 1)'),
        (3, 'message "x": its chain of parents loops back on itself'),
        (4, 'message "y": its chain of parents loops back on itself'),
    ]


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        (
            message("m", "bot", "Hi"),
            'message "m": unknown role "bot" (expected prompter or assistant)',
        ),
        (
            {"message_id": "m", "role": "prompter", "text": None, "replies": []},
            'message "m": text must be a string, got NoneType',
        ),
        (
            {
                "message_tree_id": "t",
                "prompt": {"message_id": "r", "role": "prompter", "text": "Q", "replies": "no"},
            },
            'message "r": "replies" must be a list, got a string',
        ),
        ({"message_tree_id": "t"}, 'missing "prompt" (the root message of the tree)'),
    ],
)
def test_bad_oasst_records_are_named(record, expected):
    assert problem(record, "oasst") == expected


def test_deleted_oasst_root_gives_no_conversation():
    record = {"message_tree_id": "t", "prompt": {**message("r", "prompter", "Q"), "deleted": True}}
    assert read(jsonl(record)) == []


# --- dialogue ---


def test_sgd_speakers_map_system_to_assistant_and_keep_frames():
    conversation = parse(
        {
            "dialogue_id": "1_00000",
            "services": ["Restaurants_2"],
            "turns": [
                {"speaker": "USER", "utterance": "Table for 2.", "frames": [{"service": "R"}]},
                {"speaker": "SYSTEM", "utterance": "Where?", "frames": []},
            ],
        }
    )
    assert conversation.external_id == "1_00000"
    assert pairs(conversation) == [("user", "Table for 2."), ("assistant", "Where?")]
    assert conversation.turns[0].metadata == {"frames": [{"service": "R"}]}
    assert conversation.metadata == {"services": ["Restaurants_2"]}


def test_taskmaster_assistant_is_the_assistant_role():
    conversation = parse(
        {
            "conversation_id": "dlg-1",
            "instruction_id": "x",
            "utterances": [
                {"index": 0, "speaker": "USER", "text": "Hi"},
                {"index": 1, "speaker": "ASSISTANT", "text": "Hello", "segments": []},
            ],
        }
    )
    assert conversation.external_id == "dlg-1"
    assert pairs(conversation) == [("user", "Hi"), ("assistant", "Hello")]
    assert conversation.turns[1].metadata == {"index": 1, "segments": []}


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        (
            {"dialogue_id": "d", "turns": [{"speaker": "BOT", "utterance": "Hi"}]},
            'turn 1: unknown speaker "BOT" '
            "(expected USER, SYSTEM, ASSISTANT or AGENT, in any case)",
        ),
        ({"dialogue_id": "d", "turns": [{"speaker": "USER"}]}, 'turn 1: missing "utterance"'),
        ({"dialogue_id": "d", "turns": [{"utterance": "Hi"}]}, 'turn 1: missing "speaker"'),
        ({"dialogue_id": "d", "turns": []}, "a conversation needs at least one turn"),
        (
            {
                "conversation_id": "c",
                "utterances": [{"speaker": "USER", "text": "Hi"}, {"speaker": "USER"}],
            },
            'utterance 2: missing "text"',
        ),
        (
            {"dialogue_id": ["d"], "turns": [{"speaker": "USER", "utterance": "Hi"}]},
            '"dialogue_id" must be a string or an integer',
        ),
    ],
)
def test_bad_dialogues_are_named(record, expected):
    assert problem(record) == expected


# --- refusals ---


@pytest.mark.parametrize(
    ("record", "start"),
    [
        ({"dataset_name": "SelfAware", "example": []}, "this looks like a SelfAware-style"),
        (
            {"version": "v2.0", "data": [{"title": "t", "paragraphs": []}]},
            "this looks like a SQuAD",
        ),
        ({"data": {"text": "Hi"}}, "this looks like a Label Studio task"),
        ({"id": 1, "annotations": []}, "this looks like a Label Studio task"),
        ({"author": "Mia", "text": "Hi"}, "this looks like Label Studio Paragraphs"),
        (
            {"dialogue": [{"author": "Mia", "text": "Hi"}]},
            "this looks like Label Studio Paragraphs",
        ),
        (
            {"service_name": "Alarm_1", "slots": [], "intents": []},
            "this looks like a Schema-Guided",
        ),
    ],
)
def test_known_non_conversation_records_are_refused_by_name(record, start):
    assert problem(record).startswith(start)


# --- Explicit format overrides detection ---


def test_explicit_preference_on_a_prompt_response_record_fails_clearly():
    record = {"id": "q1", "prompt": "Q?", "response": ""}
    assert problem(record, "preference") == (
        'not a preference pair: expected {"prompt", "chosen", "rejected"}, {"input", '
        '"preferred_output", "non_preferred_output"}, {"conversations", "chosen", "rejected"} '
        'or {"chosen_messages", "rejected_messages"}'
    )


def test_explicit_preference_on_an_hh_record_points_to_hh_rlhf():
    record = {
        "chosen": "\n\nHuman: Hi\n\nAssistant: A",
        "rejected": "\n\nHuman: Hi\n\nAssistant: B",
    }
    assert "hh_rlhf" in problem(record, "preference")


def test_explicit_sharegpt_reads_a_llamafactory_pair_as_plain_sharegpt():
    record = {
        "conversations": [{"from": "human", "value": "Q?"}],
        "chosen": {"from": "gpt", "value": "A."},
        "rejected": {"from": "gpt", "value": "No."},
    }
    conversation = parse(record, "sharegpt")
    assert pairs(conversation) == [("user", "Q?")]
    assert conversation.metadata == {"chosen": record["chosen"], "rejected": record["rejected"]}


@pytest.mark.django_db
def test_explicit_format_applies_to_a_whole_sample_file(project):
    with pytest.raises(ImportFailed) as info:
        import_file(project, "coconot/sample.jsonl", format="preference")
    assert len(info.value.errors) == 52
    assert info.value.errors[0]["message"].startswith("not a preference pair")
    assert Conversation.objects.count() == 0


# --- What no database can store -----------------------------------------------------------


def test_nul_in_metadata_is_named_by_its_path():
    record = {
        "dialogue_id": "d",
        "turns": [{"speaker": "USER", "utterance": "Hi", "frames": ["a\x00"]}],
    }
    assert problem(record) == "turns[0].frames[0] contains a NUL character, which cannot be stored"


@pytest.mark.parametrize(
    ("record", "path"),
    [
        (
            {"id": "a", "turns": [{"role": "user", "text": "Hi"}], "metadata": {"n": "\x00"}},
            "metadata.n",
        ),
        (
            {"id": "a", "turns": [{"role": "user", "text": "Hi", "metadata": {"\x00": 1}}]},
            "turns[0].metadata.\x00",
        ),
    ],
)
def test_nul_in_native_metadata_is_refused_by_its_path(record, path):
    assert problem(record) == f"{path} contains a NUL character, which cannot be stored"


def test_an_escaped_backslash_u0000_in_text_is_not_a_nul():
    record = {"prompt": "literally \\u0000", "response": ""}
    assert parse(record).turns[0].text == "literally \\u0000"


def test_an_integer_over_64_bits_is_refused():
    # The readers turn such numbers into floats or errors; a parser called directly with
    # one (another reader, a Python caller) must still not hand it to the database.
    parser = formats.PARSERS["prompt_response"]()
    with pytest.raises(importers.RecordError, match=r"^holds an integer too large to store"):
        parser.parse({"prompt": "Q?", "score": 2**70}, importers.Where(line=1))
