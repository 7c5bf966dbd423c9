"""Label in Chromium: log in, label turns, submit, get the next task, find it in the export."""

import orjson
import pytest
from django.core.management import call_command

from projects.models import Membership
from tests.factories import MembershipFactory, ProjectFactory, UserFactory
from tests.helpers import api_client_for

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery staple"


@pytest.fixture
def imported_project(tmp_path):
    lead = UserFactory(username="lena")
    annotator = UserFactory(username="ana")
    project = ProjectFactory(created_by=lead, slug="bank", name="Bank assistant audit")
    MembershipFactory(project=project, user=annotator, role=Membership.Role.ANNOTATOR)
    path = tmp_path / "bank.jsonl"
    path.write_bytes(
        b"".join(
            orjson.dumps(record) + b"\n"
            for record in (
                {
                    "id": "wire-1",
                    "turns": [
                        {"role": "user", "text": "What is the wire cutoff? <b>urgent</b>"},
                        {"role": "assistant", "text": "Wires sent before 6 p.m. ET go out today."},
                    ],
                },
                {
                    "id": "fees-2",
                    "turns": [
                        {"role": "user", "text": "Can you reverse my overdraft fees?"},
                        {"role": "assistant", "text": "Done, I reversed all three fees."},
                    ],
                },
            )
        )
    )
    call_command("import_conversations", str(path), project="bank")
    return project, annotator


def test_annotator_labels_a_conversation_and_it_appears_in_the_export(
    page, live_server, imported_project, artifacts
):
    _project, annotator = imported_project
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", "ana")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.get_by_role("link", name="Start labeling").click()

    assert (
        page.locator("#turn-0 .turn-text").inner_text() == "What is the wire cutoff? <b>urgent</b>"
    )
    page.screenshot(path=artifacts / "workspace-first-task.png", full_page=True)

    # Turn 1 (user): a trait. Turn 2 (assistant): the three required answers.
    page.locator("#q-turns-0-prompt_traits label", has_text="Missing information").click()
    expect_saved(page)
    assistant = page.locator("#turn-1")
    assistant.locator("#q-turns-1-observed_behavior label", has_text="Answered").click()
    assistant.locator("#q-turns-1-expected_behavior label:has(input[value=answer])").click()
    assistant.locator("#q-turns-1-factuality label", has_text="Fabricated").click()
    expect_saved(page)
    page.screenshot(path=artifacts / "workspace-labeled.png", full_page=True)

    page.click("#submit-button")
    page.wait_for_selector("text=Can you reverse my overdraft fees?")
    page.screenshot(path=artifacts / "workspace-next-task.png", full_page=True)
    assert page.url.endswith("/projects/bank/label/")

    response = api_client_for(annotator).get("/api/v1/projects/bank/export/?format=native")
    lines = [orjson.loads(line) for line in b"".join(response.streaming_content).splitlines()]
    wire = next(line for line in lines if line["id"] == "wire-1")
    [annotation] = wire["annotations"]
    assert annotation["annotator"] == "ana" and annotation["status"] == "submitted"
    assert annotation["turns"] == {
        "0": {"prompt_traits": ["missing_information"]},
        "1": {
            "observed_behavior": ["answered"],
            "expected_behavior": "answer",
            "factuality": "fabricated",
        },
    }


def test_submitting_with_missing_answers_lists_them_and_focuses_the_first(
    page, live_server, imported_project, artifacts
):
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", "ana")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.goto(f"{live_server.url}/projects/bank/label/")
    page.locator("#q-turns-1-factuality label:has(input[value=correct])").click()
    expect_saved(page)
    page.click("#submit-button")
    page.wait_for_selector("#submit-errors[role=alert]")
    assert "2 required answers missing" in page.inner_text("#submit-errors")
    focused = page.evaluate("document.activeElement.closest('.field').id")
    assert focused == "q-turns-1-observed_behavior"
    page.screenshot(path=artifacts / "workspace-missing-answers.png")


def expect_saved(page) -> None:
    page.wait_for_function(
        "document.getElementById('save-status').textContent.trim() === 'Saved'", timeout=10_000
    )
