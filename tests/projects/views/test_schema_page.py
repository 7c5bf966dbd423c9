import html as html_lib
import json
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from projects import schemas, services
from projects.models import LabelSchema
from tests.projects.views.html_forms import as_post, form_fields

pytestmark = pytest.mark.django_db
HTMX = {"HX-Request": "true"}
PAGE = "/projects/support/schema/"


def text(response) -> str:
    return html_lib.unescape(response.content.decode())


def current(project) -> LabelSchema:
    return LabelSchema.objects.current_for(project)


def keys(project) -> list[str]:
    return list(current(project).questions.values_list("key", flat=True))


def editor_post(client) -> dict[str, list[str]]:
    """What the lead's browser posts for the editor as the page shows it."""
    return as_post(form_fields(client.get(PAGE).content.decode(), "schema-form"))


def row_ids(data: dict[str, list[str]]) -> list[str]:
    return data["questions"]


def posted_order(response) -> list[str]:
    return re.findall(r'name="questions" value="([a-z0-9]+)"', response.content.decode())


def two_questions() -> dict[str, list[str]]:
    """A post of the editor with two questions: a turn choice and a conversation rating."""
    return {
        "questions": ["a1", "b2"],
        "q-a1-key": ["tone"],
        "q-a1-prompt": ["Is the tone right?"],
        "q-a1-help": [""],
        "q-a1-scope": ["turn"],
        "q-a1-roles": ["assistant"],
        "q-a1-kind": ["single"],
        "q-a1-min": ["1"],
        "q-a1-max": ["5"],
        "q-a1-required": ["on"],
        "q-a1-options": ["o1", "o2"],
        "q-a1-o-o1-value": ["friendly"],
        "q-a1-o-o1-label": ["Friendly"],
        "q-a1-o-o1-hotkey": ["w"],
        "q-a1-o-o2-value": ["curt"],
        "q-a1-o-o2-label": [""],
        "q-a1-o-o2-hotkey": ["c"],
        "q-b2-key": ["overall"],
        "q-b2-prompt": ["Overall quality"],
        "q-b2-help": ["1 is bad,\r\n5 is great."],
        "q-b2-scope": ["conversation"],
        "q-b2-kind": ["rating"],
        "q-b2-min": ["0"],
        "q-b2-max": ["4"],
    }


# --- The page ---


def test_lead_sees_the_editor_with_the_current_questions_and_version(client, owner, project):
    client.force_login(owner)

    response = client.get(PAGE)

    assert response.status_code == 200
    page = text(response)
    assert 'id="schema-form"' in page and "Label schema" in page
    assert "v1" in page and "Not in use yet" in page and "Saving edits it in place" in page
    for key in keys(project):
        assert f'value="{key}"' in page
    assert "Download JSON" in page and "Import JSON" in page


def test_page_says_a_change_will_be_a_new_version_once_the_schema_is_in_use(client, owner, project):
    LabelSchema.objects.filter(project=project).update(in_use=True)
    client.force_login(owner)

    page = text(client.get(PAGE))

    assert "In use" in page and "Saving a change creates v2" in page


@pytest.mark.parametrize("persona", ["annotator", "reviewer"])
def test_members_who_do_not_lead_see_the_questions_read_only(client, project, persona, request):
    client.force_login(request.getfixturevalue(persona))

    response = client.get(PAGE)

    assert response.status_code == 200
    page = text(response)
    assert 'id="schema-form"' not in page and "Import JSON" not in page
    assert "What did the assistant do?" in page and "Download JSON" in page


def test_outsider_gets_404_for_every_schema_url(client, outsider, project):
    client.force_login(outsider)

    for url in (PAGE, PAGE + "export/", PAGE + "v/1/"):
        assert client.get(url).status_code == 404, url
    for url in ("save/", "import/", "rows/add-question/", "rows/move-up/"):
        assert client.post(PAGE + url, two_questions()).status_code == 404, url
    assert keys(project) != ["tone", "overall"]


def test_anonymous_visitor_is_sent_to_log_in(client, project):
    response = client.get(PAGE)

    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("post", ""),
        ("get", "save/"),
        ("get", "import/"),
        ("get", "rows/add-question/"),
        ("get", "rows/add-option/"),
        ("get", "rows/move-down/"),
        ("get", "rows/remove-question/"),
        ("get", "rows/remove-option/"),
        ("post", "export/"),
        ("post", "v/1/"),
    ],
)
def test_wrong_method_gets_405(client, owner, project, method, url):
    client.force_login(owner)

    assert getattr(client, method)(PAGE + url).status_code == 405


# --- Saving ---


def test_lead_saves_the_schema_in_place_before_labeling_started(client, owner, project):
    client.force_login(owner)

    response = client.post(PAGE + "save/", two_questions(), follow=True)

    assert response.redirect_chain == [(PAGE, 302)]
    assert "Saved v1 in place: no one has labeled under it yet." in text(response)
    schema = current(project)
    assert schema.version == 1 and LabelSchema.objects.filter(project=project).count() == 1
    assert schemas.schema_as_dict(schema)["questions"] == [
        {
            "key": "tone",
            "prompt": "Is the tone right?",
            "help": "",
            "scope": "turn",
            "roles": ["assistant"],
            "kind": "single",
            "options": [
                {"value": "friendly", "label": "Friendly", "hotkey": "w"},
                {"value": "curt", "label": "Curt", "hotkey": "c"},
            ],
            "required": True,
        },
        {
            "key": "overall",
            "prompt": "Overall quality",
            "help": "1 is bad,\n5 is great.",
            "scope": "conversation",
            "roles": [],
            "kind": "rating",
            "options": [],
            "required": False,
            "min": 0,
            "max": 4,
        },
    ]


def test_saving_after_labeling_started_makes_the_next_version_and_says_so(client, owner, project):
    LabelSchema.objects.filter(project=project).update(in_use=True)
    old_keys = keys(project)
    client.force_login(owner)

    response = client.post(PAGE + "save/", two_questions(), follow=True)

    assert (
        "Labeling already started under v1, so your change is v2; "
        "answers given under v1 keep their questions"
    ) in text(response)
    assert current(project).version == 2 and keys(project) == ["tone", "overall"]
    v1 = LabelSchema.objects.get(project=project, version=1)
    assert list(v1.questions.values_list("key", flat=True)) == old_keys
    assert "v1" in text(client.get(PAGE)) and f"{PAGE}v/1/" in text(client.get(PAGE))


def test_posting_the_page_unchanged_keeps_the_schema_as_it_was(client, owner, project):
    LabelSchema.objects.filter(project=project).update(in_use=True)
    before = schemas.schema_as_dict(current(project))
    client.force_login(owner)

    response = client.post(PAGE + "save/", editor_post(client), follow=True)

    assert "Nothing changed: the schema is still v1." in text(response)
    assert LabelSchema.objects.filter(project=project).count() == 1
    assert schemas.schema_as_dict(current(project)) == before


def test_invalid_schema_gets_400_naming_the_question_and_field_and_changes_nothing(
    client, owner, project
):
    before = schemas.schema_as_dict(current(project))
    data = two_questions()
    data["q-a1-o-o2-hotkey"] = ["j"]
    client.force_login(owner)

    response = client.post(PAGE + "save/", data)

    assert response.status_code == 400
    page = text(response)
    message = 'questions[1] ("tone").options[2].hotkey "j" is kept for the workspace'
    assert message in page and "Nothing was saved." in page
    assert 'href="#question-a1"' in page and "question-row has-error" in page
    # The field at fault is marked and takes the focus.
    assert re.search(r'name="q-a1-o-o2-hotkey"[^>]*aria-invalid="true" autofocus', page)
    assert page.count("aria-invalid") == 1
    # The lead's rows come back as posted, to fix and save again.
    assert 'value="Is the tone right?"' in page and posted_order(response) == ["a1", "b2"]
    assert schemas.schema_as_dict(current(project)) == before


def revision_on(response) -> str:
    return re.search(r'name="revision" value="([0-9a-f]+)"', response.content.decode()).group(1)


def test_a_save_after_someone_else_saved_is_refused_with_the_rows_kept(client, owner, project):
    client.force_login(owner)
    opened = editor_post(client)  # this tab opened the page...
    services.save_schema(  # ...then another lead saved a change
        project=project,
        actor=owner,
        questions=[schemas.schema_as_dict(current(project))["questions"][0]],
    )
    theirs = schemas.schema_as_dict(current(project))
    mine = {**two_questions(), "revision": opened["revision"]}

    response = client.post(PAGE + "save/", mine)

    assert response.status_code == 409
    page = text(response)
    assert "Someone saved the schema after you opened it, so your changes were not saved" in page
    assert 'value="Is the tone right?"' in page and posted_order(response) == ["a1", "b2"]
    assert schemas.schema_as_dict(current(project)) == theirs  # their save stands
    # The page now carries the schema as it is: saving again replaces theirs, on purpose.
    assert revision_on(response) == schemas.revision(current(project)) != opened["revision"][0]
    again = client.post(PAGE + "save/", {**mine, "revision": [revision_on(response)]})
    assert again.status_code == 302 and keys(project) == ["tone", "overall"]


def test_row_helpers_and_a_refused_save_keep_the_revision_the_rows_started_from(
    client, owner, project
):
    client.force_login(owner)
    opened = editor_post(client)["revision"][0]
    data = {**two_questions(), "revision": [opened]}
    services.save_schema(
        project=project,
        actor=owner,
        questions=schemas.schema_as_dict(current(project))["questions"][:1],
    )

    # Without htmx a row helper shows the whole page again: still from the old revision.
    assert revision_on(client.post(PAGE + "rows/add-question/", data)) == opened
    data["q-a1-o-o2-hotkey"] = ["j"]
    assert revision_on(client.post(PAGE + "save/", data)) == opened  # 400, not 409 yet
    data["q-a1-o-o2-hotkey"] = ["c"]
    assert client.post(PAGE + "save/", data).status_code == 409


def test_rating_bounds_that_are_not_numbers_are_named(client, owner, project):
    data = two_questions()
    data["q-b2-max"] = ["lots"]
    client.force_login(owner)

    response = client.post(PAGE + "save/", data)

    assert response.status_code == 400
    assert 'questions[2] ("overall"): min and max must be whole numbers.' in text(response)


def test_a_schema_without_questions_is_refused(client, owner, project):
    client.force_login(owner)

    response = client.post(PAGE + "save/", {"csrfmiddlewaretoken": "x"})

    assert response.status_code == 400
    assert "A schema needs a list of at least one question." in text(response)
    assert keys(project)


@pytest.mark.parametrize("persona", ["annotator", "reviewer"])
def test_members_who_do_not_lead_get_403_saving_and_editing_rows(client, project, persona, request):
    before = keys(project)
    client.force_login(request.getfixturevalue(persona))

    for url in ("save/", "import/", "rows/add-question/", "rows/remove-question/"):
        assert client.post(PAGE + url, two_questions()).status_code == 403, url
    assert keys(project) == before


# --- Row helpers: nothing is saved until "Save" ---


def test_adding_a_question_with_htmx_returns_the_rows_with_a_new_focused_one(
    client, owner, project
):
    client.force_login(owner)

    response = client.post(PAGE + "rows/add-question/", two_questions(), headers=HTMX)

    assert response.status_code == 200
    body = response.content.decode()
    assert "<html" not in body and body.lstrip().startswith('<div id="schema-questions"')
    order = posted_order(response)
    assert order[:2] == ["a1", "b2"] and len(order) == 3
    assert f'id="q-{order[2]}-key"' in body and "autofocus" in body
    assert '<p id="schema-announcement" hx-swap-oob="innerHTML">Added question 3.</p>' in body
    assert keys(project) != ["tone", "overall"]


def test_without_htmx_a_row_helper_shows_the_whole_page(client, owner, project):
    client.force_login(owner)

    response = client.post(PAGE + "rows/add-question/", two_questions())

    assert response.status_code == 200
    assert "<html" in response.content.decode() and len(posted_order(response)) == 3
    assert "hx-swap-oob" not in response.content.decode()


def test_moving_a_question_down_and_up_changes_the_order(client, owner, project):
    client.force_login(owner)
    data = two_questions()

    down = client.post(PAGE + "rows/move-down/", {**data, "row": "a1"}, headers=HTMX)
    up = client.post(PAGE + "rows/move-up/", {**data, "row": "b2"}, headers=HTMX)

    assert posted_order(down) == ["b2", "a1"] and posted_order(up) == ["b2", "a1"]
    assert "Moved question 1 to position 2." in down.content.decode()
    # Focus stays on the button that was pressed, so moving again is one more key press.
    assert re.search(r'id="move-down-a1"[^>]*autofocus', down.content.decode().replace("\n", " "))


def test_moving_the_first_question_up_changes_nothing_and_says_so(client, owner, project):
    client.force_login(owner)

    response = client.post(PAGE + "rows/move-up/", {**two_questions(), "row": "a1"}, headers=HTMX)

    assert posted_order(response) == ["a1", "b2"]
    assert "Question 1 is already first." in response.content.decode()
    assert re.search(r'id="move-up-a1"[^>]*aria-disabled="true"', text(response).replace("\n", " "))


def test_removing_a_question_and_an_option(client, owner, project):
    client.force_login(owner)

    removed = client.post(
        PAGE + "rows/remove-question/", {**two_questions(), "row": "a1"}, headers=HTMX
    )
    option = client.post(
        PAGE + "rows/remove-option/", {**two_questions(), "option": "a1-o1"}, headers=HTMX
    )

    assert posted_order(removed) == ["b2"]
    assert "Removed question 1." in removed.content.decode()
    body = option.content.decode()
    assert 'name="q-a1-o-o1-value"' not in body and 'name="q-a1-o-o2-value"' in body
    assert "Removed option 1 of question 1." in body


def option_order(response, row: str = "a1") -> list[str]:
    return re.findall(rf'name="q-{row}-options" value="([a-z0-9]+)"', response.content.decode())


def test_moving_an_option_down_and_up_changes_its_order_and_keeps_the_focus(client, owner, project):
    client.force_login(owner)

    down = client.post(
        PAGE + "rows/move-option-down/", {**two_questions(), "option": "a1-o1"}, headers=HTMX
    )

    assert down.status_code == 200 and option_order(down) == ["o2", "o1"]
    assert "Moved option 1 of question 1 to position 2." in down.content.decode()
    # The pressed button, on the row it moved with, keeps the focus (once on the page).
    assert down.content.decode().count("autofocus") == 1
    assert re.search(
        r'value="a1-o1"\s+formaction="[^"]*move-option-down/"[^>]*autofocus', down.content.decode()
    )
    moved = as_post(form_fields("<form id='schema-form'>" + down.content.decode(), "schema-form"))
    up = client.post(PAGE + "rows/move-option-up/", {**moved, "option": "a1-o1"}, headers=HTMX)
    assert option_order(up) == ["o1", "o2"]

    # Saved in the order shown.
    saved = client.post(PAGE + "save/", {**moved, "revision": editor_post(client)["revision"]})
    assert saved.status_code == 302
    options = schemas.schema_as_dict(current(project))["questions"][0]["options"]
    assert [o["value"] for o in options] == ["curt", "friendly"]


def test_moving_the_first_option_up_changes_nothing_and_an_unknown_one_is_400(
    client, owner, project
):
    client.force_login(owner)

    first = client.post(
        PAGE + "rows/move-option-up/", {**two_questions(), "option": "a1-o1"}, headers=HTMX
    )
    unknown = client.post(
        PAGE + "rows/move-option-down/", {**two_questions(), "option": "a1-zz"}, headers=HTMX
    )

    assert option_order(first) == ["o1", "o2"]
    assert "Option 1 of question 1 is already first." in first.content.decode()
    assert unknown.status_code == 400
    assert "That row is no longer on the page." in unknown.content.decode()


def test_adding_an_option_gives_the_question_an_empty_focused_row(client, owner, project):
    client.force_login(owner)

    response = client.post(
        PAGE + "rows/add-option/", {**two_questions(), "row": "a1"}, headers=HTMX
    )

    options = re.findall(r'name="q-a1-options" value="([a-z0-9]+)"', response.content.decode())
    assert options[:2] == ["o1", "o2"] and len(options) == 3
    assert re.search(
        rf'name="q-a1-o-{options[2]}-value" value=""[^>]*autofocus',
        response.content.decode().replace("\n", " "),
    )


def test_a_row_that_is_not_on_the_page_gets_400(client, owner, project):
    client.force_login(owner)

    response = client.post(PAGE + "rows/move-up/", {**two_questions(), "row": "zz"}, headers=HTMX)

    assert response.status_code == 400
    assert "That row is no longer on the page." in response.content.decode()
    assert posted_order(response) == ["a1", "b2"]


def test_a_new_question_and_option_saved_from_the_rendered_form(client, owner, project):
    client.force_login(owner)
    added = client.post(PAGE + "rows/add-question/", two_questions())
    data = as_post(form_fields(added.content.decode(), "schema-form"))
    new = data["questions"][2]
    data.update(
        {
            f"q-{new}-key": ["stars"],
            f"q-{new}-prompt": ["Stars"],
            f"q-{new}-kind": ["rating"],
            f"q-{new}-min": ["1"],
            f"q-{new}-max": ["3"],
        }
    )

    response = client.post(PAGE + "save/", data)

    assert response.status_code == 302
    assert keys(project) == ["tone", "overall", "stars"]
    stars = current(project).questions.get(key="stars")
    assert (stars.kind, stars.rating_min, stars.rating_max, stars.roles) == (
        "rating",
        1,
        3,
        ["assistant"],
    )


# --- Export and import ---


@pytest.mark.parametrize("persona", ["owner", "annotator"])
def test_members_download_the_schema_as_a_json_attachment(client, project, persona, request):
    client.force_login(request.getfixturevalue(persona))

    response = client.get(PAGE + "export/")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response["Content-Disposition"] == 'attachment; filename="support-schema-v1.json"'
    assert json.loads(response.content) == schemas.schema_as_dict(current(project))


def test_an_earlier_version_downloads_by_number_and_an_unknown_one_is_404(client, owner, project):
    LabelSchema.objects.filter(project=project).update(in_use=True)
    services.save_schema(
        project=project,
        actor=owner,
        questions=[{"key": "ok", "prompt": "OK?", "kind": "boolean", "roles": ["assistant"]}],
    )
    client.force_login(owner)

    old = client.get(PAGE + "export/", {"version": 1})

    assert json.loads(old.content)["version"] == 1
    assert len(json.loads(old.content)["questions"]) > 1
    assert client.get(PAGE + "export/", {"version": 9}).status_code == 404
    assert client.get(PAGE + "export/", {"version": "x"}).status_code == 404


def test_lead_imports_a_downloaded_file_into_another_project(client, owner, project):
    services.save_schema(
        project=project,
        actor=owner,
        questions=[{"key": "ok", "prompt": "OK?", "kind": "boolean", "roles": ["assistant"]}],
    )
    client.force_login(owner)
    exported = client.get(PAGE + "export/").content
    other = services.create_project(creator=owner, slug="other", name="Other")

    response = client.post(
        "/projects/other/schema/import/",
        {"file": SimpleUploadedFile("schema.json", exported, "application/json")},
        follow=True,
    )

    assert response.redirect_chain == [("/projects/other/schema/", 302)]
    assert "Imported the JSON. Saved v1 in place" in text(response)
    assert list(current(other).questions.values_list("key", flat=True)) == ["ok"]


def test_lead_pastes_a_list_of_questions(client, owner, project):
    client.force_login(owner)
    pasted = json.dumps([{"key": "ok", "prompt": "OK?", "kind": "boolean", "roles": ["user"]}])

    response = client.post(PAGE + "import/", {"text": pasted})

    assert response.status_code == 302 and keys(project) == ["ok"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"text": "{not json"}, "This is not valid JSON: Expecting property name enclosed"),
        ({"text": '{"version": 1}'}, 'Expected an object with a "questions" list'),
        ({"text": ""}, "Choose a file or paste JSON."),
        ({"text": '{"questions": []}'}, "A schema needs a list of at least one question."),
        (
            {"text": '{"questions": [{"key": "a", "prompt": "A", "kind": "poll"}]}'},
            'questions[1] ("a").kind "poll" is not a kind',
        ),
    ],
)
def test_bad_import_gets_400_with_a_clear_message_and_changes_nothing(
    client, owner, project, data, message
):
    before = schemas.schema_as_dict(current(project))
    client.force_login(owner)

    response = client.post(PAGE + "import/", data)

    assert response.status_code == 400
    assert message in text(response)
    assert schemas.schema_as_dict(current(project)) == before


def test_an_uploaded_file_that_is_not_text_is_named(client, owner, project):
    client.force_login(owner)
    upload = SimpleUploadedFile("schema.json", b"\xff\xfe\x00garbage", "application/json")

    response = client.post(PAGE + "import/", {"file": upload})

    assert response.status_code == 400 and "The file is not UTF-8 text." in text(response)


# --- Earlier versions ---


def test_an_earlier_version_is_shown_read_only(client, owner, annotator, project):
    LabelSchema.objects.filter(project=project).update(in_use=True)
    client.force_login(owner)
    client.post(PAGE + "save/", two_questions())
    client.force_login(annotator)

    response = client.get(PAGE + "v/1/")

    assert response.status_code == 200
    page = text(response)
    assert "An earlier version, read only." in page and "What did the assistant do?" in page
    assert "<form" not in page.split('<main id="main"')[1]
    assert client.get(PAGE + "v/3/").status_code == 404


def test_the_largest_schema_the_rules_allow_saves_from_the_editor(client, owner, project):
    data: dict[str, list[str]] = {"questions": []}
    # Every key the workspace leaves free, then options without a hotkey.
    hotkeys = [k for k in "abcdehilmnpqtuvwxyz0123456789" if k not in schemas.RESERVED_HOTKEYS]
    hotkeys += [""] * schemas.MAX_OPTIONS
    for q in range(schemas.MAX_QUESTIONS):
        row = f"r{q}"
        data["questions"].append(row)
        data.update(
            {
                f"q-{row}-key": [f"q{q}"],
                f"q-{row}-prompt": [f"Question {q}"],
                f"q-{row}-help": [""],
                f"q-{row}-scope": ["turn"],
                f"q-{row}-roles": ["user", "assistant"],
                f"q-{row}-kind": ["multi"],
                f"q-{row}-min": ["1"],
                f"q-{row}-max": ["5"],
                f"q-{row}-options": [f"o{n}" for n in range(schemas.MAX_OPTIONS)],
            }
        )
        for n in range(schemas.MAX_OPTIONS):
            data[f"q-{row}-o-o{n}-value"] = [f"v{n}"]
            data[f"q-{row}-o-o{n}-label"] = [f"Value {n}"]
            data[f"q-{row}-o-o{n}-hotkey"] = [hotkeys[n]]
    client.force_login(owner)

    response = client.post(PAGE + "save/", data)

    assert response.status_code == 302
    schema = current(project)
    assert schema.questions.count() == schemas.MAX_QUESTIONS
    assert len(schema.questions.last().options) == schemas.MAX_OPTIONS
