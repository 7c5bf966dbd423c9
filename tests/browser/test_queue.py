"""The labeling queue in Chromium: a lead filters and distributes work by expertise, follows
the job and the dashboard; an annotator skips a conversation that an expert then gets."""

import orjson
import pytest
from django.core.management import call_command

from accounts.models import ExpertiseTag
from annotation.models import Task
from projects.models import Membership
from tests.factories import MembershipFactory, ProjectFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery staple"


def chat(conversation_id: str, domain: str, question: str, answer: str) -> dict:
    return {
        "id": conversation_id,
        "metadata": {"domain": domain},
        "turns": [{"role": "user", "text": question}, {"role": "assistant", "text": answer}],
    }


@pytest.fixture
def claims_project(tmp_path):
    lead = UserFactory(username="lena")
    project = ProjectFactory(
        created_by=lead, slug="claims", name="Claims assistant audit", assignment_mode="mixed"
    )
    for name, expertise in (("ana", "insurance"), ("ben", "insurance"), ("cy", "claims-law")):
        user = UserFactory(username=name)
        user.expertise.set([ExpertiseTag.objects.get_or_create(name=expertise)[0]])
        MembershipFactory(project=project, user=user, role=Membership.Role.ANNOTATOR)
    path = tmp_path / "claims.jsonl"
    records = [
        chat("hail-1", "insurance", "Does my policy cover hail?", "Yes, hail is always covered."),
        chat("flood-2", "insurance", "Is flood damage covered?", "Flood is covered up to $1M."),
        chat("sub-3", "insurance", "Can you subrogate my claim?", "I filed the subrogation."),
        chat("pto-4", "hr", "How many PTO days do I have?", "You have 14 days left."),
        chat("leave-5", "hr", "Can I take parental leave?", "Ask your manager."),
    ]
    path.write_bytes(b"".join(orjson.dumps(record) + b"\n" for record in records))
    call_command("import_conversations", str(path), project="claims")
    return project


def log_in(page, base_url: str, username: str) -> None:
    page.context.clear_cookies()
    page.goto(f"{base_url}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base_url}/")


def test_lead_distributes_by_expertise_and_a_skipped_conversation_reaches_an_expert(
    page, browser, live_server, claims_project, artifacts
):
    url = live_server.url
    page.set_viewport_size({"width": 1280, "height": 900})
    log_in(page, url, "lena")
    page.get_by_role("link", name="Claims assistant audit").click()
    page.screenshot(path=artifacts / "queue-project-overview.png", full_page=True)
    page.get_by_role("link", name="Queue").click()
    assert page.inner_text("#match-count").strip() == "5 conversations match"

    # Filter: the preview updates as the lead types.
    page.fill("#id_metadata_key", "domain")
    page.fill("#id_metadata_value", "insurance")
    page.wait_for_function(
        "document.getElementById('match-count').textContent.trim() === '3 conversations match'"
    )
    page.locator("label.action-choice", has_text="Distribute evenly").click()
    page.select_option("#id_expertise", "insurance")
    page.screenshot(path=artifacts / "queue-filtered.png", full_page=True)

    page.get_by_role("button", name="Run on the matching conversations").click()
    page.wait_for_selector("#assignment-progress .status-succeeded")
    assert "3 tasks assigned." in page.inner_text("#assignment-progress")
    assert page.locator("progress").get_attribute("value") == "100"
    page.screenshot(path=artifacts / "queue-assignment-done.png", full_page=True)

    page.get_by_role("link", name="Dashboard").click()
    stats = page.locator("#dashboard-stats")
    assert "0 of 5 tasks done" in stats.inner_text()
    page.screenshot(path=artifacts / "queue-dashboard.png", full_page=True)
    assigned = dict(
        Task.objects.filter(status="assigned").values_list(
            "conversation__external_id", "assignee__username"
        )
    )
    assert sorted(assigned.values()) == ["ana", "ana", "ben"]

    # An annotator skips one of hers: it needs a claims lawyer.
    annotator = browser.new_context(viewport={"width": 1280, "height": 900})
    ana = annotator.new_page()
    log_in(ana, url, "ana")
    ana.goto(f"{url}/projects/claims/label/")
    first = ana.locator(".task-facts strong").inner_text()
    assert assigned[first] == "ana"
    ana.get_by_text("Skip…").click()
    assert not ana.locator("#skip-expertise").is_visible()
    ana.select_option("#skip-reason", "needs_expert")
    ana.get_by_role("button", name="Skip and next").click()
    ana.wait_for_selector("#skip-form .form-errors")
    assert "Name the expertise this conversation needs" in ana.inner_text("#skip-form")
    ana.screenshot(path=artifacts / "queue-skip-error.png")
    ana.select_option("#skip-expertise", "claims-law")
    ana.fill("#skip-note", "Subrogation is a legal question.")
    ana.screenshot(path=artifacts / "queue-skip-form.png")
    ana.get_by_role("button", name="Skip and next").click()
    ana.wait_for_function(f"document.querySelector('.task-facts strong').textContent !== {first!r}")
    second = ana.locator(".task-facts strong").inner_text()
    assert assigned[second] == "ana"
    ana.screenshot(path=artifacts / "queue-after-skip.png", full_page=True)

    # The lead's dashboard updates by itself.
    page.wait_for_function(
        "document.querySelector('#dashboard-stats').textContent.includes('escalated')"
        " && /\\b1\\s*skipped/.test(document.querySelector('#dashboard-stats').innerText)",
        timeout=8000,
    )

    # The claims lawyer gets the skipped conversation first.
    log_in(ana, url, "cy")
    ana.goto(f"{url}/projects/claims/label/")
    assert ana.locator(".task-facts strong").inner_text() == first
    assert "needs claims-law" in ana.inner_text(".task-facts")
    assert "Subrogation is a legal question." in ana.inner_text(".task-facts")
    ana.screenshot(path=artifacts / "queue-expert-gets-it.png", full_page=True)
    annotator.close()

    page.reload()
    page.screenshot(path=artifacts / "queue-dashboard-after.png", full_page=True)
    page.goto(f"{url}/projects/claims/queue/?task_status=skipped")
    assert page.locator("tr[id^=task-row-]").count() == 1
    page.goto(f"{url}/projects/claims/queue/")
    page.screenshot(path=artifacts / "queue-task-list.png", full_page=True)
