"""The schema editor in Chromium: a lead adds a rating question and an option with a hotkey,
moves the question up from the keyboard, saves, and labeling goes on under the new version."""

from contextlib import contextmanager

import pytest

from projects.models import GuidelinesVersion, LabelSchema
from tests.factories import ProjectFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery staple"


@contextmanager
def settled(page):
    """Wait for the htmx request the block starts to be swapped in and settled."""
    page.evaluate(
        "window.settled = false; document.body.addEventListener("
        "'htmx:afterSettle', () => { window.settled = true }, {once: true})"
    )
    yield
    page.wait_for_function("window.settled === true")


def keys_on_page(page) -> list[str]:
    return page.eval_on_selector_all(
        "#schema-questions input[name$='-key']", "inputs => inputs.map(i => i.value)"
    )


@pytest.fixture
def labeled_project():
    lead = UserFactory(username="lena")
    project = ProjectFactory(created_by=lead, slug="bank", name="Bank assistant audit")
    # Labeling already started under v1, so the lead's change will be v2.
    LabelSchema.objects.filter(project=project).update(in_use=True)
    return project


def test_lead_adds_a_rating_and_an_option_reorders_and_saves_a_new_version(
    page, live_server, labeled_project, artifacts
):
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", "lena")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.goto(f"{live_server.url}/projects/bank/")
    page.get_by_role("link", name="Schema", exact=True).click()
    page.wait_for_selector("#schema-form")
    assert "Saving a change creates v2" in page.inner_text("#schema-state")
    page.screenshot(path=artifacts / "schema-editor.png")

    rows = page.locator("#schema-questions .question-row")
    count = rows.count()

    # An option with a hotkey on the first question (a multiple choice one).
    first = rows.nth(0)
    with settled(page):
        first.get_by_role("button", name="Add option to question 1").click()
    assert page.evaluate("document.activeElement.name").endswith("-value")
    page.keyboard.type("made_up_policy")
    option = page.evaluate("document.activeElement.name").removesuffix("-value")
    page.fill(f"[name='{option}-label']", "Made up a policy")
    page.fill(f"[name='{option}-hotkey']", "m")
    # One place up, from the keyboard: the focus stays on the option's button as it moves.
    options = first.locator("input[name$='-options']")
    last = options.count()
    first.get_by_role("button", name=f"Move option {last} of question 1 up").focus()
    with settled(page):
        page.keyboard.press("Enter")
    assert page.input_value(f"[name='{option}-value']") == "made_up_policy"
    values = first.locator(".option-table input[name$='-value']")
    assert values.nth(last - 2).input_value() == "made_up_policy"
    assert f"Move option {last - 1} of question 1 up" in page.evaluate(
        "document.activeElement.textContent"
    )

    # A rating question at the end: only the fields a conversation rating needs show.
    with settled(page):
        page.get_by_role("button", name="Add question").click()
    assert rows.count() == count + 1
    new = rows.nth(count)
    assert page.evaluate("document.activeElement.id") == new.get_by_label(
        "Key", exact=True
    ).get_attribute("id")
    page.keyboard.type("politeness")
    new.get_by_label("Prompt").fill("How polite was the assistant overall?")
    new.get_by_label("Kind").select_option("rating")
    new.get_by_label("Asked about").select_option("conversation")
    new.get_by_label("from", exact=True).fill("1")
    new.get_by_label("to", exact=True).fill("7")
    new.get_by_label("Required").check()
    assert new.locator(".when-rating").is_visible()
    assert not new.locator(".when-choice").is_visible()
    assert not new.locator(".when-turn").is_visible()
    assert page.input_value(f"[name='{option}-value']") == "made_up_policy"
    new.scroll_into_view_if_needed()
    page.screenshot(path=artifacts / "schema-editor-added.png")

    # Move it up twice from the keyboard: focus stays on the button.
    new.get_by_role("button", name="Move up").focus()
    with settled(page):
        page.keyboard.press("Enter")
    assert keys_on_page(page)[count - 1] == "politeness"
    assert "Move up" in page.evaluate("document.activeElement.textContent")
    with settled(page):
        page.keyboard.press("Enter")
    assert keys_on_page(page)[count - 2] == "politeness"
    assert (
        page.text_content("#schema-announcement")
        == f"Moved question {count} to position {count - 1}."
    )
    moved = page.locator(".question-row", has=page.locator("input[value=politeness]"))
    assert moved.get_by_label("Prompt").input_value() == "How polite was the assistant overall?"
    assert moved.locator(".when-rating").is_visible()
    assert moved.get_by_role("button", name="Move up").is_visible()
    page.screenshot(path=artifacts / "schema-editor-reordered.png")

    page.get_by_role("button", name="Save schema", exact=True).click()
    page.wait_for_selector(".messages")
    assert "so your change is v2" in page.inner_text(".messages")
    assert page.inner_text("h1") == "Label schema v2"
    page.screenshot(path=artifacts / "schema-editor-saved.png")
    page.locator("#schema-versions").scroll_into_view_if_needed()
    page.screenshot(path=artifacts / "schema-editor-import-and-versions.png")

    schema = LabelSchema.objects.current_for(labeled_project)
    keys = list(schema.questions.values_list("key", flat=True))
    assert schema.version == 2 and keys[count - 2] == "politeness"
    politeness = schema.questions.get(key="politeness")
    assert (politeness.kind, politeness.scope, politeness.rating_min, politeness.rating_max) == (
        "rating",
        "conversation",
        1,
        7,
    )
    first_question = schema.questions.get(key=keys[0])
    assert first_question.options[-2] == {
        "value": "made_up_policy",
        "label": "Made up a policy",
        "hotkey": "m",
    }
    v1 = LabelSchema.objects.get(project=labeled_project, version=1)
    assert "politeness" not in v1.questions.values_list("key", flat=True)

    page.get_by_role("link", name="v1").click()
    page.wait_for_selector("text=An earlier version, read only.")
    page.screenshot(path=artifacts / "schema-version-1.png", full_page=True)


def test_a_bad_hotkey_is_named_and_nothing_is_saved(page, live_server, labeled_project, artifacts):
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", "lena")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.goto(f"{live_server.url}/projects/bank/schema/")
    page.locator("#schema-questions input[name$='-hotkey']").first.fill("j")

    page.get_by_role("button", name="Save schema", exact=True).click()

    page.wait_for_selector("#schema-error")
    assert 'hotkey "j" is kept for the workspace' in page.inner_text("#schema-error")
    assert page.locator(".question-row.has-error").count() == 1
    # The field at fault has the focus, marked invalid.
    assert page.evaluate("document.activeElement.getAttribute('aria-invalid')") == "true"
    assert page.evaluate("document.activeElement.name").endswith("-hotkey")
    page.screenshot(path=artifacts / "schema-editor-error.png")
    assert LabelSchema.objects.filter(project=labeled_project).count() == 1


def test_lead_previews_and_saves_guidelines_as_a_new_version(
    page, live_server, labeled_project, artifacts
):
    GuidelinesVersion.objects.filter(project=labeled_project).update(in_use=True)
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", "lena")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.goto(f"{live_server.url}/projects/bank/")
    page.get_by_role("link", name="Guidelines", exact=True).click()
    assert "Saving a change creates v2" in page.inner_text("#guidelines-state")

    page.fill("#id_text", "# Wires\n\n- Cutoff is **6 p.m. ET**\n- <b>never</b> guess")
    page.wait_for_selector("#guidelines-preview h1")
    preview = page.inner_html("#guidelines-preview")
    assert "<strong>6 p.m. ET</strong>" in preview and "&lt;b&gt;never&lt;/b&gt;" in preview
    page.screenshot(path=artifacts / "guidelines-preview.png")

    page.get_by_role("button", name="Save guidelines").click()
    page.wait_for_selector(".messages")
    assert "the guidelines are now v2" in page.inner_text(".messages")
    assert page.inner_text("h1") == "Guidelines v2"
    page.screenshot(path=artifacts / "guidelines-saved.png", full_page=True)
    labeled_project.refresh_from_db()
    assert labeled_project.guidelines_version == 2
