"""The workspace in Chromium: labeling by keyboard, two tabs on one task, required answers,
rewrites with their diff, evidence from the sources, shortcuts, flags, and the beacon."""

import time

import orjson
import pytest
from django.core.management import call_command
from django.db import OperationalError

from annotation import services
from annotation.models import Annotation, Flag, Task
from projects import services as project_services
from projects.models import LabelSchema, Membership, Question
from tests.factories import MembershipFactory, ProjectFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery staple"
DESKTOP = {"width": 1280, "height": 800}
# An emoji (two UTF-16 units, one code point) and CRLF line breaks come before the passages,
# so offsets taken in the page must still be the server's.
POLICY = (
    "Fee schedule 2024 🙂\r\n"
    "Wires sent before 5 p.m. ET go out the same day.\r\n"
    "Later wires go out the next business day. A wire cannot be cancelled once sent."
)
REPLY = "Wires sent before 6 p.m. ET go out today. You can also cancel a wire any time."
LONG_ANSWER = (
    "Here is **what happens** to a wire:\n\n"
    + "\n".join(f"{n}. Step {n}: the bank checks the wire against its rules." for n in range(1, 40))
    + "\n\n`cutoff = 17:00 ET`"
)
GUIDELINES = """## Wires

- Judge cut-off times against the **fee schedule**.
- A reply that invents a policy is *fabricated*, even if it sounds helpful.
"""


def record(conversation_id: str) -> dict:
    return {
        "id": conversation_id,
        "turns": [
            {"role": "system", "text": "You are the bank's assistant. Cite the fee schedule."},
            {"role": "user", "text": "When do **wires** go out? <b>urgent</b>"},
            {
                "role": "assistant",
                "text": "Let me look that up.",
                "metadata": {
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {
                                "name": "search_policies",
                                "arguments": '{"query": "wire cut-off", "limit": 2}',
                            },
                        }
                    ]
                },
            },
            {
                "role": "tool",
                "text": '{"results": [{"id": "fees-2024", "score": 0.92}]}',
                "metadata": {"name": "search_policies", "tool_call_id": "call_1"},
            },
            {"role": "assistant", "text": REPLY if conversation_id != "wire-3" else LONG_ANSWER},
        ],
        "metadata": {
            "sources": [
                {
                    "id": "fees-2024",
                    "title": "Fee schedule 2024",
                    "text": POLICY,
                    "url": "https://bank.example/fees",
                },
                {
                    "id": "faq",
                    "title": "Wire FAQ",
                    "text": "Wires can be recalled, not cancelled, and only by the back office.",
                },
            ]
        },
    }


def settle(page) -> None:
    """Let a delayed autosave fire and every request finish."""
    if page.is_closed():
        return
    page.wait_for_timeout(900)
    page.wait_for_function("!document.querySelector('.htmx-request')", timeout=10_000)


@pytest.fixture
def bank(tmp_path, browser):
    lead = UserFactory(username="lena")
    annotator = UserFactory(username="ana")
    project = ProjectFactory(created_by=lead, slug="bank", name="Bank assistant audit")
    MembershipFactory(project=project, user=annotator, role=Membership.Role.ANNOTATOR)
    project_services.update_project(project=project, actor=lead, guidelines=GUIDELINES)
    Question.objects.create(
        schema=LabelSchema.objects.current_for(project),
        key="evidence",
        prompt="Which source passages bear on its claims?",
        kind="evidence",
        scope="turn",
        roles=["assistant"],
        position=100,
    )
    path = tmp_path / "bank.jsonl"
    path.write_bytes(
        b"".join(orjson.dumps(record(i)) + b"\n" for i in ("wire-1", "wire-2", "wire-3"))
    )
    call_command("import_conversations", str(path), project="bank")
    yield project
    # Before the database is emptied: no save may still be running in the server.
    for context in browser.contexts:
        for page in context.pages:
            settle(page)
    time.sleep(0.2)


def log_in(page, base_url: str, username: str = "ana") -> None:
    page.goto(f"{base_url}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base_url}/")


def open_workspace(page, base_url: str, viewport=DESKTOP) -> None:
    page.set_viewport_size(viewport)
    log_in(page, base_url)
    page.goto(f"{base_url}/projects/bank/label/")


def expect_saved(page) -> None:
    page.wait_for_function(
        "document.getElementById('save-status').textContent.trim() === 'Saved'", timeout=10_000
    )


def focused_field(page) -> str | None:
    return page.evaluate(
        "(document.activeElement.closest('.field') || document.activeElement).id || null"
    )


def answers(conversation_id: str = "wire-1") -> dict:
    annotation = Annotation.objects.get(task__conversation__external_id=conversation_id)
    return services.annotation_answers(annotation)["turns"]


def eventually(check, timeout: float = 10.0):
    """Poll the database until check() is truthy (the browser saves on its own time)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = check()
        except OperationalError:  # SQLite: the server thread is writing this very moment
            value = None
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


def test_a_whole_conversation_is_labeled_by_keyboard_and_the_next_one_loads(
    page, live_server, bank, artifacts
):
    open_workspace(page, live_server.url)
    keys = page.keyboard
    keys.press("j")  # the system prompt: no questions, the turn itself has the focus
    assert page.evaluate("document.activeElement.id") == "turn-0"
    keys.press("j")
    assert focused_field(page) == "q-turns-1-prompt_traits"
    keys.press("2")  # false premise (a multiple choice: the focus stays)
    keys.press("j")
    assert focused_field(page) == "q-turns-2-observed_behavior"
    assert "is-current" in page.get_attribute("#turn-2", "class")
    keys.press("1")  # answered
    keys.press("Enter")  # on to the next question
    assert focused_field(page) == "q-turns-2-expected_behavior"
    keys.press("1")  # answer: a single choice moves on by itself
    assert focused_field(page) == "q-turns-2-factuality"
    keys.press("5")  # not applicable
    assert focused_field(page) == "q-turns-2-citation"
    keys.press("Tab")  # native Tab: the next question
    assert focused_field(page) == "q-turns-2-hallucination_type"
    keys.press("j")  # the tool result
    assert page.evaluate("document.activeElement.id") == "turn-3"
    keys.press("ArrowDown")
    assert focused_field(page) == "q-turns-4-observed_behavior"
    keys.press("1")
    keys.press("Enter")
    keys.press("1")  # should have answered
    keys.press("4")  # fabricated
    keys.press("k")
    assert "is-current" in page.get_attribute("#turn-3", "class")
    keys.press("j")
    expect_saved(page)
    page.screenshot(path=artifacts / "workspace-keyboard.png")

    keys.press("Control+Enter")
    page.wait_for_function("document.querySelector('.task-facts strong').textContent === 'wire-2'")
    assert page.inner_text("#task-number") == "Conversation 2"
    assert page.url.endswith("/projects/bank/label/")  # no full page load: htmx swapped it
    assert answers("wire-1") == {
        "1": {"prompt_traits": ["false_premise"]},
        "2": {
            "observed_behavior": ["answered"],
            "expected_behavior": "answer",
            "factuality": "not_applicable",
        },
        "4": {
            "observed_behavior": ["answered"],
            "expected_behavior": "answer",
            "factuality": "fabricated",
        },
    }
    assert Task.objects.get(conversation__external_id="wire-1").status == "submitted"
    # The next task starts clean: the keys work again and the clock restarted.
    keys.press("j")
    keys.press("j")
    assert focused_field(page) == "q-turns-1-prompt_traits"
    assert page.inner_text("#task-timer") in ("00:00", "00:01", "00:02")


def test_a_change_in_a_second_tab_after_a_save_in_the_first_is_refused_not_lost(
    browser, live_server, bank, artifacts
):
    context = browser.new_context(viewport=DESKTOP)
    first = context.new_page()
    open_workspace(first, live_server.url)
    second = context.new_page()
    second.goto(f"{live_server.url}/projects/bank/label/")
    assert second.inner_text(".task-facts strong") == first.inner_text(".task-facts strong")

    first.locator("#q-turns-2-factuality label:has(input[value=correct])").click()
    expect_saved(first)
    second.locator("#q-turns-2-factuality label:has(input[value=fabricated])").click()
    second.wait_for_selector("#save-status.is-error")
    status = second.inner_text("#save-status")
    assert "changed elsewhere" in status and "your last change was not saved" in status
    assert second.locator("#save-status a", has_text="Reload").is_visible()
    # Later changes in the stale tab are refused too, never written over the first's.
    second.locator("#q-turns-2-expected_behavior label:has(input[value=refuse])").click()
    second.wait_for_timeout(500)
    assert "changed elsewhere" in second.inner_text("#save-status")
    second.screenshot(path=artifacts / "workspace-conflict.png")
    assert answers() == {"2": {"factuality": "correct"}}
    context.close()


def test_submitting_lists_the_missing_answers_and_focuses_the_first(
    page, live_server, bank, artifacts
):
    open_workspace(page, live_server.url)
    page.keyboard.press("Control+Enter")
    page.wait_for_selector("#submit-errors[role=alert]")
    errors = page.inner_text("#submit-errors")
    assert "6 required answers missing" in errors
    assert "Turn 3 (assistant): What did the assistant do?" in errors
    assert focused_field(page) == "q-turns-2-observed_behavior"
    assert page.locator(".field.is-missing").count() == 6
    page.screenshot(path=artifacts / "workspace-missing.png")
    assert Task.objects.get(conversation__external_id="wire-1").status == "in_progress"


def test_a_rewrite_shows_its_diff_and_only_an_edited_text_is_saved(
    page, live_server, bank, artifacts
):
    open_workspace(page, live_server.url)
    textarea = page.locator("#q-turns-4-corrected_response-input")
    assert textarea.input_value() == REPLY
    # Every save posts the whole form, the untouched rewrite too: it is not an answer.
    page.locator("#q-turns-4-factuality label:has(input[value=fabricated])").click()
    expect_saved(page)
    assert answers() == {"4": {"factuality": "fabricated"}}

    edited = (
        "Wires sent before 5 p.m. ET go out the same day. A wire cannot be cancelled once sent."
    )
    textarea.fill(edited)
    diff = page.locator("#q-turns-4-corrected_response [data-rewrite-diff]")
    diff.wait_for(state="visible")
    inserted = " ".join(diff.locator("ins").all_inner_texts())
    deleted = " ".join(diff.locator("del").all_inner_texts())
    assert "5" in inserted and "same day" in inserted and "cannot be cancelled" in inserted
    assert "6" in deleted and "today" in deleted and "any time" in deleted
    assert "Wires sent before" not in inserted + deleted
    assert page.inner_text("#q-turns-4-corrected_response [data-rewrite-summary]").startswith(
        "Edited: "
    )
    assert eventually(lambda: answers().get("4", {}).get("corrected_response") == edited)
    page.evaluate(
        "document.getElementById('q-turns-4-corrected_response').scrollIntoView({block: 'center'})"
    )
    page.screenshot(path=artifacts / "workspace-rewrite.png")

    page.locator("#q-turns-4-corrected_response button", has_text="Reset to the original").click()
    assert textarea.input_value() == REPLY
    assert eventually(lambda: "corrected_response" not in answers().get("4", {}))


def test_evidence_is_cited_by_selecting_source_text_with_a_verdict(
    page, live_server, bank, artifacts
):
    open_workspace(page, live_server.url)
    page.click("#q-turns-4-evidence [data-evidence-cite]")
    assert page.evaluate("document.activeElement.dataset.sourceFind") == "fees-2024"

    # Drag the mouse over "5 p.m. ET" in the fee schedule.
    x1, y1, x2, y2 = page.evaluate(
        """(needle) => {
          const node = document.querySelector('.source-text[data-source="fees-2024"]').firstChild;
          const at = node.data.indexOf(needle);
          const range = document.createRange();
          range.setStart(node, at); range.setEnd(node, at + 1);
          const a = range.getBoundingClientRect();
          range.setStart(node, at + needle.length - 1); range.setEnd(node, at + needle.length);
          const b = range.getBoundingClientRect();
          return [a.left + 1, a.top + a.height / 2, b.right - 1, b.top + b.height / 2];
        }""",
        "5 p.m. ET",
    )
    page.mouse.move(x1, y1)
    page.mouse.down()
    page.mouse.move(x2, y2, steps=8)
    page.mouse.up()
    page.wait_for_selector("#passage-picker:not([hidden])")
    assert page.inner_text("#picker-quote") == "5 p.m. ET"
    assert "Turn 5" in page.inner_text("#picker-target")
    page.screenshot(path=artifacts / "workspace-evidence-picker.png")
    page.keyboard.press("3")  # contradicted
    start = POLICY.index("5 p.m. ET")
    contradicted = {
        "source": "fees-2024",
        "start": start,
        "end": start + len("5 p.m. ET"),
        "verdict": "contradicted",
        "quote": "5 p.m. ET",
    }
    assert eventually(lambda: answers().get("4", {}).get("evidence") == [contradicted])

    # By keyboard: find words of a passage, Enter selects them, a verdict button cites them.
    page.fill("#source-2-find", "recalled, not cancelled")
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.dataset.verdict") == "supported"
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")  # unsupported
    start = record("wire-1")["metadata"]["sources"][1]["text"].index("recalled, not cancelled")
    recalled = {
        "source": "faq",
        "start": start,
        "end": start + len("recalled, not cancelled"),
        "verdict": "unsupported",
        "quote": "recalled, not cancelled",
    }
    assert eventually(lambda: answers().get("4", {}).get("evidence") == [contradicted, recalled])
    field = page.locator("#q-turns-4-evidence")
    assert field.locator(".passage").count() == 2
    assert "5 p.m. ET" in field.locator(".passage").first.inner_text()
    # Each cited passage is highlighted in its source, by its verdict.
    assert cited(page) == {
        "supported": [],
        "unsupported": ["recalled, not cancelled"],
        "contradicted": ["5 p.m. ET"],
    }
    page.screenshot(path=artifacts / "workspace-evidence.png")

    field.locator(".passage").first.get_by_role("button", name="Remove this passage").click()
    assert eventually(lambda: answers().get("4", {}).get("evidence") == [recalled])
    assert cited(page)["contradicted"] == []
    page.reload()
    assert page.locator("#q-turns-4-evidence .passage").count() == 1
    assert "recalled, not cancelled" in page.inner_text("#q-turns-4-evidence .passage")
    assert cited(page)["unsupported"] == ["recalled, not cancelled"]


def cited(page) -> dict[str, list[str]]:
    """The text of the passages highlighted in the sources, by verdict."""
    return page.evaluate(
        """() => Object.fromEntries(["supported", "unsupported", "contradicted"].map((v) => {
          const marks = CSS.highlights.get("cited-" + v);
          return [v, marks ? [...marks].map((range) => range.toString()) : []];
        }))"""
    )


def test_shortcut_sheet_menus_and_toggles_by_keyboard(page, live_server, bank, artifacts):
    open_workspace(page, live_server.url)
    assert page.inner_text(".guidelines summary").startswith("Guidelines v")
    page.keyboard.press("?")
    dialog = page.locator("#shortcuts")
    dialog.wait_for(state="visible")
    sheet = dialog.inner_text()
    for key in ("j", "k", "Ctrl+Enter", "Esc", "Tab", "s", "f", "g", "r", "?"):
        assert key in sheet
    page.screenshot(path=artifacts / "workspace-shortcuts.png")
    page.keyboard.press("Escape")
    dialog.wait_for(state="hidden")

    page.keyboard.press("g")
    assert page.locator("#guidelines").get_attribute("open") is not None
    assert page.locator("#guidelines strong", has_text="fee schedule").is_visible()
    page.keyboard.press("g")

    # Raw text: the Markdown source instead of the formatted text, escaped.
    assert page.locator("#turn-1 .turn-md strong", has_text="wires").is_visible()
    page.keyboard.press("r")
    assert page.inner_text("#turn-1 .turn-raw") == "When do **wires** go out? <b>urgent</b>"
    assert not page.locator("#turn-1 .turn-md").is_visible()
    page.keyboard.press("r")

    page.keyboard.press("s")
    assert page.evaluate("document.activeElement.id") == "skip-reason"
    page.keyboard.press("Escape")
    assert not page.locator("#skip-form").is_visible()

    page.keyboard.press("f")
    assert page.evaluate("document.activeElement.name") == "kind"
    page.keyboard.press("ArrowDown")  # broken or garbled
    page.keyboard.press("Tab")
    page.keyboard.type("The tool result is cut off.")
    page.keyboard.press("Control+Enter")
    page.wait_for_selector(".flag-done")
    assert "Flagged: Broken or garbled." in page.inner_text("#flag-form")
    page.screenshot(path=artifacts / "workspace-flag.png")
    flag = Flag.objects.get()
    assert (flag.kind, flag.note, flag.conversation.external_id) == (
        "broken",
        "The tool result is cut off.",
        "wire-1",
    )
    page.keyboard.press("Escape")
    assert not page.locator("#flag-form").is_visible()


def test_tool_calls_long_turns_and_the_narrow_layout(browser, live_server, bank, artifacts):
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    open_workspace(page, live_server.url)
    call = page.locator("#turn-2 .tool-call")
    assert "search_policies" in call.inner_text() and '"limit": 2' in call.inner_text()
    assert "result of search_policies" in page.inner_text("#turn-3 .turn-head")
    assert '"score": 0.92' in page.inner_text("#turn-3 .tool-result")
    page.screenshot(path=artifacts / "workspace-desktop.png")

    # Submit two conversations through, to reach the long one.
    for _ in range(2):
        for index in (2, 4):
            page.locator(f"#q-turns-{index}-observed_behavior label", has_text="Answered").click()
            page.locator(f"#q-turns-{index}-expected_behavior input[value=answer]").check()
            page.locator(f"#q-turns-{index}-factuality input[value=correct]").check()
        expect_saved(page)
        current = page.inner_text(".task-facts strong")
        page.click("#submit-button")
        page.wait_for_function(
            f"document.querySelector('.task-facts strong').textContent !== {current!r}"
        )
    body = page.locator("#turn-4-body")
    page.wait_for_selector("#turn-4-body.is-long")  # htmx has settled the new task
    assert "is-collapsed" in body.get_attribute("class")
    assert body.bounding_box()["height"] < 300
    page.evaluate("document.getElementById('turn-4').scrollIntoView()")
    page.screenshot(path=artifacts / "workspace-long-collapsed.png")
    page.locator("#turn-4 [data-show-all]").click()
    assert "is-collapsed" not in body.get_attribute("class")
    assert body.bounding_box()["height"] > 600
    page.locator("#turn-4 [data-show-all]").click()

    page.set_viewport_size({"width": 400, "height": 800})
    page.evaluate("window.scrollTo(0, 0)")
    assert page.evaluate("document.documentElement.scrollWidth") <= 400
    turn = page.locator("#turn-2 .turn").bounding_box()
    panel = page.locator("#turn-2 .panel").bounding_box()
    assert panel["y"] >= turn["y"] + turn["height"]  # the panel is under its turn
    page.screenshot(path=artifacts / "workspace-narrow.png", full_page=True)
    page.screenshot(path=artifacts / "workspace-narrow-top.png")
    for name, element in (("panel", "q-turns-2-observed_behavior"), ("sources", "sources")):
        page.evaluate(f"document.getElementById('{element}').scrollIntoView()")
        page.screenshot(path=artifacts / f"workspace-narrow-{name}.png")
    context.close()


def set_visibility(page, state: str) -> None:
    """As when the tab is switched away from (hidden) and back (visible)."""
    page.evaluate(
        """(state) => {
          Object.defineProperty(document, 'visibilityState', {value: state, configurable: true});
          document.dispatchEvent(new Event('visibilitychange'));
        }""",
        state,
    )


def test_a_hidden_page_saves_by_beacon_and_carries_on_without_a_conflict(page, live_server, bank):
    open_workspace(page, live_server.url)
    page.locator("#q-turns-2-factuality label:has(input[value=correct])").click()
    expect_saved(page)
    page.fill("#q-turns-2-rationale-input", "The cut-off is 5 p.m., not 6.")
    # Hidden before the autosave's delay is over: the beacon sends what was typed.
    set_visibility(page, "hidden")
    assert eventually(
        lambda: answers().get("2", {}).get("rationale") == "The cut-off is 5 p.m., not 6."
    )
    page.wait_for_timeout(1200)  # the delayed autosave is held back while hidden
    set_visibility(page, "visible")
    page.wait_for_function("document.getElementById('annotation-version').value === '3'")
    expect_saved(page)
    page.locator("#q-turns-2-expected_behavior label:has(input[value=defer])").click()
    assert eventually(lambda: answers()["2"].get("expected_behavior") == "defer")
    expect_saved(page)
    assert answers()["2"] == {
        "expected_behavior": "defer",
        "factuality": "correct",
        "rationale": "The cut-off is 5 p.m., not 6.",
    }


def test_the_lead_resolves_a_flag_from_the_dashboard(page, live_server, bank, artifacts):
    annotator = UserFactory(username="ana")
    task = Task.objects.filter(conversation__external_id="wire-2").first()
    Task.objects.filter(pk=task.pk).update(status="in_progress", assignee=annotator)
    services.flag_conversation(
        task_id=task.pk, user=annotator, kind="pii", note="An account number in turn 2."
    )
    page.set_viewport_size(DESKTOP)
    log_in(page, live_server.url, "lena")
    page.goto(f"{live_server.url}/projects/bank/dashboard/")
    card = page.locator("#open-flags")
    assert "Open flags (1)" in card.inner_text()
    row = card.locator("tbody tr")
    assert "wire-2" in row.inner_text() and "Personal data" in row.inner_text()
    assert "An account number in turn 2." in row.inner_text() and "ana" in row.inner_text()
    card.scroll_into_view_if_needed()
    page.screenshot(path=artifacts / "workspace-dashboard-flags.png", full_page=True)
    row.get_by_role("button", name="Resolve").click()
    page.wait_for_selector("#open-flags .ok")
    assert "No open flags" in page.inner_text("#open-flags")
    assert Flag.objects.get().resolved_by.username == "lena"


def test_leaving_warns_only_while_a_change_is_not_saved(page, live_server, bank):
    open_workspace(page, live_server.url)
    dialogs = []

    def stay(dialog):
        dialogs.append(dialog.type)
        dialog.dismiss()

    page.on("dialog", stay)
    page.fill("#q-turns-2-rationale-input", "Still typing")
    page.evaluate("location.href = '/'")  # before the autosave's delay is over
    page.wait_for_timeout(300)
    assert dialogs == ["beforeunload"] and page.url.endswith("/projects/bank/label/")
    expect_saved(page)
    assert eventually(lambda: answers().get("2", {}).get("rationale") == "Still typing")
    page.goto(f"{live_server.url}/")  # saved: no warning
    assert dialogs == ["beforeunload"] and page.url == f"{live_server.url}/"
