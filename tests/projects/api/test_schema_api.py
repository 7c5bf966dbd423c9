import pytest
from rest_framework.test import APIClient

from projects import schemas, services
from projects.models import GuidelinesVersion, LabelSchema

pytestmark = pytest.mark.django_db

URL = "/api/v1/projects/support/schema/"
GUIDELINES = "/api/v1/projects/support/guidelines/"
DETAIL = "/api/v1/projects/support/"

TONE = {
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
}
OVERALL = {
    "key": "overall",
    "prompt": "Overall",
    "help": "",
    "scope": "conversation",
    "roles": [],
    "kind": "rating",
    "options": [],
    "required": False,
    "min": 1,
    "max": 3,
}


def current(project) -> dict:
    schema = LabelSchema.objects.current_for(project)
    return {**schemas.schema_as_dict(schema), "revision": schemas.revision(schema)}


def shape(body: dict) -> dict:
    """The schema without its revision (a fingerprint, checked on its own)."""
    return {key: value for key, value in body.items() if key != "revision"}


# --- GET ---


@pytest.mark.parametrize("persona", ["owner", "reviewer", "annotator"])
def test_members_read_the_current_schema(api, project, persona, request):
    response = api(request.getfixturevalue(persona)).get(URL)

    assert response.status_code == 200
    assert response.json() == current(project)
    assert response.json()["version"] == 1


def test_an_earlier_version_is_read_by_number(api, owner, annotator, project):
    LabelSchema.objects.filter(project=project).update(in_use=True)
    v1 = current(project)
    services.save_schema(project=project, actor=owner, questions=[TONE])

    response = api(annotator).get(URL, {"version": 1})

    assert response.status_code == 200 and response.json() == v1
    assert shape(api(annotator).get(URL).json()) == {"version": 2, "questions": [TONE]}


def test_an_unknown_version_is_404_and_a_bad_one_400(api, annotator, project):
    assert api(annotator).get(URL, {"version": 5}).status_code == 404
    response = api(annotator).get(URL, {"version": "latest"})
    assert response.status_code == 400 and list(response.json()) == ["version"]


def test_outsider_gets_404_and_anonymous_401(api, outsider, project):
    assert api(outsider).get(URL).status_code == 404
    assert APIClient().get(URL).status_code == 401
    assert api(outsider).get(GUIDELINES).status_code == 404
    assert APIClient().get(GUIDELINES).status_code == 401


# --- PUT ---


def test_lead_replaces_the_questions_in_place_before_labeling(api, owner, project):
    response = api(owner).put(URL, {"questions": [TONE, OVERALL]}, format="json")

    assert response.status_code == 200
    assert shape(response.json()) == {"version": 1, "questions": [TONE, OVERALL]}
    assert current(project) == response.json()
    assert LabelSchema.objects.filter(project=project).count() == 1


def test_after_labeling_started_a_put_makes_the_next_version(api, owner, project):
    LabelSchema.objects.filter(project=project).update(in_use=True)
    v1 = current(project)

    response = api(owner).put(URL, {"version": 1, "questions": [TONE]}, format="json")

    assert response.status_code == 200
    assert shape(response.json()) == {"version": 2, "questions": [TONE]}
    assert schemas.schema_as_dict(LabelSchema.objects.get(project=project, version=1)) == shape(v1)


def test_putting_back_what_get_returned_changes_nothing(api, owner, project):
    LabelSchema.objects.filter(project=project).update(in_use=True)
    client = api(owner)
    body = client.get(URL).json()

    response = client.put(URL, body, format="json")

    assert response.status_code == 200 and response.json() == body
    assert LabelSchema.objects.filter(project=project).count() == 1


def test_a_put_from_a_stale_revision_is_409_and_saves_nothing(api, owner, project):
    first, second = api(owner), api(owner)  # two leads, or two tabs, opened the same schema
    opened = first.get(URL).json()
    assert second.put(URL, {"questions": [TONE], "revision": opened["revision"]}, format="json")
    saved = current(project)
    assert saved["questions"] == [TONE] and saved["revision"] != opened["revision"]

    response = first.put(
        URL, {"questions": [OVERALL], "revision": opened["revision"]}, format="json"
    )

    assert response.status_code == 409
    assert response.json()["code"] == "conflict"
    assert "Someone saved the schema after you opened it" in response.json()["detail"]
    assert current(project) == saved  # the other save stands

    # With the revision of what is there now, the change goes through.
    again = first.put(URL, {"questions": [OVERALL], "revision": saved["revision"]}, format="json")
    assert again.status_code == 200 and again.json()["questions"] == [OVERALL]
    assert again.json()["revision"] == current(project)["revision"] != saved["revision"]


def test_a_put_without_a_revision_replaces_whatever_is_there(api, owner, project):
    api(owner).put(URL, {"questions": [TONE]}, format="json")
    response = api(owner).put(URL, {"questions": [OVERALL]}, format="json")
    assert response.status_code == 200 and current(project)["questions"] == [OVERALL]


@pytest.mark.parametrize(
    ("questions", "message"),
    [
        (
            [TONE, {**OVERALL, "max": 20}],
            'questions[2] ("overall"): a rating runs from min to max, min below max, '
            "at most 10 steps.",
        ),
        (
            [{**TONE, "options": [{"value": "a", "hotkey": "?"}]}],
            'questions[1] ("tone").options[1].hotkey "?" is kept for the workspace',
        ),
        ([TONE, TONE], 'questions[2].key "tone" is already the key of questions[1].'),
        ([TONE, "oops"], "questions[2] must be an object."),
        ([], "A schema needs a list of at least one question."),
    ],
)
def test_invalid_schema_gets_400_naming_the_question_and_field_and_changes_nothing(
    api, owner, project, questions, message
):
    before = current(project)

    response = api(owner).put(URL, {"questions": questions}, format="json")

    assert response.status_code == 400
    assert response.json()["detail"].startswith(message)
    assert response.json()["code"] == "invalid"
    assert current(project) == before


def test_a_body_without_a_list_of_questions_gets_400_naming_the_field(api, owner, project):
    before = current(project)

    for body in ({}, {"questions": "tone"}):
        response = api(owner).put(URL, body, format="json")
        assert response.status_code == 400
        assert list(response.json()) == ["questions"]
    assert current(project) == before


@pytest.mark.parametrize("persona", ["annotator", "reviewer"])
def test_non_lead_member_gets_403_and_nothing_changes(api, project, persona, request):
    before = current(project)

    response = api(request.getfixturevalue(persona)).put(URL, {"questions": [TONE]}, format="json")

    assert response.status_code == 403
    assert "lead" in response.json()["detail"]
    assert current(project) == before


def test_non_lead_gets_403_even_for_an_invalid_body(api, annotator, project):
    assert api(annotator).put(URL, {"questions": "x"}, format="json").status_code == 403


def test_outsider_gets_404_putting_and_nothing_changes(api, outsider, project):
    before = current(project)

    response = api(outsider).put(URL, {"questions": [TONE]}, format="json")

    assert response.status_code == 404
    assert current(project) == before


@pytest.mark.parametrize("method", ["post", "patch", "delete"])
def test_other_methods_get_405(api, owner, project, method):
    response = getattr(api(owner), method)(URL, {"questions": [TONE]}, format="json")

    assert response.status_code == 405


# --- Guidelines ---


def test_members_read_the_guidelines_with_their_versions(api, owner, annotator, project):
    services.update_project(project=project, actor=owner, guidelines="Be kind.")
    GuidelinesVersion.objects.filter(project=project).update(in_use=True)
    api(owner).patch(DETAIL, {"guidelines": "Be brief."}, format="json")

    response = api(annotator).get(GUIDELINES)

    assert response.status_code == 200
    body = response.json()
    assert (body["version"], body["text"]) == (2, "Be brief.")
    assert [(v["version"], v["in_use"]) for v in body["versions"]] == [(2, False), (1, True)]
    assert all(v["created_at"] for v in body["versions"])


def test_patching_guidelines_before_labeling_edits_the_version_in_place(api, owner, project):
    response = api(owner).patch(DETAIL, {"guidelines": "Be kind."}, format="json")

    assert response.status_code == 200
    body = api(owner).get(GUIDELINES).json()
    assert (body["version"], body["text"], len(body["versions"])) == (1, "Be kind.", 1)


def test_guidelines_are_read_only_in_the_api(api, owner, project):
    response = api(owner).put(GUIDELINES, {"text": "x"}, format="json")

    assert response.status_code == 405


def test_the_api_docs_list_the_schema_and_guidelines_endpoints(api, annotator):
    paths = api(annotator).get("/api/schema/", {"format": "json"}).json()["paths"]

    assert {"get", "put"} <= set(paths["/api/v1/projects/{slug}/schema/"])
    assert "get" in paths["/api/v1/projects/{slug}/guidelines/"]
