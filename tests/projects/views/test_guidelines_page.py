import html as html_lib

import pytest

from projects import services
from projects.forms import MAX_GUIDELINES
from projects.models import GuidelinesVersion

pytestmark = pytest.mark.django_db
HTMX = {"HX-Request": "true"}
PAGE = "/projects/support/guidelines/"


def text(response) -> str:
    return html_lib.unescape(response.content.decode())


@pytest.fixture
def with_guidelines(project, owner):
    services.update_project(project=project, actor=owner, guidelines="# Tone\n\nBe **kind**.")
    return project


def test_lead_sees_the_markdown_its_preview_and_the_version(client, owner, with_guidelines):
    client.force_login(owner)

    response = client.get(PAGE)

    assert response.status_code == 200
    page = text(response)
    assert "# Tone\n\nBe **kind**.</textarea>" in page
    assert "<h1>Tone</h1>" in page and "<strong>kind</strong>" in page
    assert "v1" in page and "Not in use yet" in page and "Saves v1 in place." in page


def test_page_says_saving_will_make_a_new_version_once_in_use(client, owner, with_guidelines):
    GuidelinesVersion.objects.filter(project=with_guidelines).update(in_use=True)
    client.force_login(owner)

    page = text(client.get(PAGE))

    assert "In use" in page and "Saving a change creates v2" in page and "Saves as v2." in page


@pytest.mark.parametrize("persona", ["annotator", "reviewer"])
def test_members_who_do_not_lead_read_the_guidelines(client, with_guidelines, persona, request):
    client.force_login(request.getfixturevalue(persona))

    response = client.get(PAGE)

    assert response.status_code == 200
    page = text(response)
    assert "<strong>kind</strong>" in page and "<textarea" not in page
    assert f"{PAGE}v/1/" in page


def test_outsider_gets_404(client, outsider, with_guidelines):
    client.force_login(outsider)

    for url in ("", "v/1/"):
        assert client.get(PAGE + url).status_code == 404, url
    for url in ("save/", "preview/"):
        assert client.post(PAGE + url, {"text": "Hijacked"}).status_code == 404, url
    with_guidelines.refresh_from_db()
    assert with_guidelines.guidelines == "# Tone\n\nBe **kind**."


@pytest.mark.parametrize(
    ("method", "url"),
    [("post", ""), ("get", "save/"), ("get", "preview/"), ("post", "v/1/")],
)
def test_wrong_method_gets_405(client, owner, project, method, url):
    client.force_login(owner)

    assert getattr(client, method)(PAGE + url).status_code == 405


@pytest.mark.parametrize("persona", ["annotator", "reviewer"])
def test_members_who_do_not_lead_get_403_saving_or_previewing(
    client, with_guidelines, persona, request
):
    client.force_login(request.getfixturevalue(persona))

    for url in ("save/", "preview/"):
        assert client.post(PAGE + url, {"text": "Hijacked"}).status_code == 403, url
    with_guidelines.refresh_from_db()
    assert with_guidelines.guidelines == "# Tone\n\nBe **kind**."


def test_preview_with_htmx_returns_the_sanitised_rendering_only(client, owner, project):
    client.force_login(owner)

    response = client.post(
        PAGE + "preview/",
        {"text": "## Steps\n\n<script>alert(1)</script> [x](javascript:alert(1))"},
        headers=HTMX,
    )

    assert response.status_code == 200
    body = response.content.decode()
    assert body.lstrip().startswith('<div id="guidelines-preview"') and "<html" not in body
    assert "<h2>Steps</h2>" in body
    assert "<script" not in body and "&lt;script&gt;" in body
    assert "href=" not in body
    project.refresh_from_db()
    assert project.guidelines == ""


def test_preview_without_htmx_shows_the_page_with_the_draft(client, owner, project):
    client.force_login(owner)

    response = client.post(PAGE + "preview/", {"text": "Draft **one**"})

    assert response.status_code == 200
    page = text(response)
    assert "<html" in page and "Draft **one**</textarea>" in page
    assert "<strong>one</strong>" in page


def test_lead_saves_in_place_before_labeling_started(client, owner, with_guidelines):
    client.force_login(owner)

    response = client.post(PAGE + "save/", {"text": "Be brief.\r\nBe kind."}, follow=True)

    assert response.redirect_chain == [(PAGE, 302)]
    assert "Saved v1 in place: no one has labeled under it yet." in text(response)
    with_guidelines.refresh_from_db()
    assert (with_guidelines.guidelines, with_guidelines.guidelines_version) == (
        "Be brief.\nBe kind.",
        1,
    )
    assert list(GuidelinesVersion.objects.filter(project=with_guidelines).values_list("text")) == [
        ("Be brief.\nBe kind.",)
    ]


def test_saving_after_labeling_started_makes_the_next_version(client, owner, with_guidelines):
    GuidelinesVersion.objects.filter(project=with_guidelines).update(in_use=True)
    client.force_login(owner)

    response = client.post(PAGE + "save/", {"text": "Be brief."}, follow=True)

    assert (
        "Labeling already started under v1, so the guidelines are now v2; "
        "annotations made under v1 keep pointing at it."
    ) in text(response)
    with_guidelines.refresh_from_db()
    assert with_guidelines.guidelines_version == 2
    v1 = GuidelinesVersion.objects.get(project=with_guidelines, version=1)
    assert v1.text == "# Tone\n\nBe **kind**."
    old = text(client.get(PAGE + "v/1/"))
    assert "An earlier version, read only." in old and "<strong>kind</strong>" in old


def test_saving_the_same_text_changes_nothing(client, owner, with_guidelines):
    GuidelinesVersion.objects.filter(project=with_guidelines).update(in_use=True)
    client.force_login(owner)

    response = client.post(PAGE + "save/", {"text": "# Tone\r\n\r\nBe **kind**."}, follow=True)

    assert "Nothing changed: the guidelines are still v1." in text(response)
    assert GuidelinesVersion.objects.filter(project=with_guidelines).count() == 1


def test_too_long_guidelines_get_400_and_change_nothing(client, owner, with_guidelines):
    client.force_login(owner)

    response = client.post(PAGE + "save/", {"text": "x" * (MAX_GUIDELINES + 1)})

    assert response.status_code == 400
    page = text(response)
    assert f"at most {MAX_GUIDELINES} characters" in page and "Nothing was saved." in page
    with_guidelines.refresh_from_db()
    assert with_guidelines.guidelines == "# Tone\n\nBe **kind**."


def test_too_long_preview_gets_400_with_the_message(client, owner, project):
    client.force_login(owner)

    response = client.post(PAGE + "preview/", {"text": "x" * (MAX_GUIDELINES + 1)}, headers=HTMX)

    assert response.status_code == 400
    assert f"at most {MAX_GUIDELINES} characters" in text(response)


def test_unknown_version_is_404(client, owner, project):
    client.force_login(owner)

    assert client.get(PAGE + "v/7/").status_code == 404
