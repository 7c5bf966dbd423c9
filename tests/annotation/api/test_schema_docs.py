import re

import pytest
from django.contrib.staticfiles import finders
from django.core.management import call_command
from drf_spectacular.drainage import reset_generator_stats

pytestmark = pytest.mark.django_db

SCHEMA = "/api/schema/"
DOCS = "/api/docs/"

# src/href of every <script> and <link> tag.
ASSET = re.compile(r"<(?:script|link)\b[^>]*?\b(?:src|href)=\"([^\"]+)\"", re.IGNORECASE)


def _schema(client) -> dict:
    response = client.get(SCHEMA, {"format": "json"})
    assert response.status_code == 200
    return response.json()


def test_schema_is_openapi_3_and_lists_every_endpoint(api, annotator):
    schema = _schema(api(annotator))

    assert schema["openapi"].startswith("3.")
    assert schema["info"]["title"] == "Turnwise API"
    assert {
        "/api/v1/auth/token/",
        "/api/v1/projects/",
        "/api/v1/projects/{slug}/",
        "/api/v1/projects/{slug}/members/",
        "/api/v1/projects/{slug}/conversations/",
        "/api/v1/projects/{slug}/tasks/next/",
        "/api/v1/tasks/{task_id}/annotation/",
        "/api/v1/projects/{slug}/export/",
        "/api/v1/projects/{slug}/tasks/",
        "/api/v1/projects/{slug}/assignments/",
        "/api/v1/projects/{slug}/progress/",
        "/api/v1/assignments/{job_id}/",
        "/api/v1/tasks/{task_id}/release/",
        "/api/v1/tasks/{task_id}/skip/",
    } <= set(schema["paths"])


def test_schema_documents_token_authentication(api, annotator):
    schema = _schema(api(annotator))

    token = schema["components"]["securitySchemes"]["tokenAuth"]
    assert (token["type"], token["in"], token["name"]) == ("apiKey", "header", "Authorization")
    assert '"Token"' in token["description"]
    next_task = schema["paths"]["/api/v1/projects/{slug}/tasks/next/"]["post"]
    assert {"tokenAuth": []} in next_task["security"]


def test_schema_documents_next_task_204_and_export_parameters(api, annotator):
    paths = _schema(api(annotator))["paths"]

    assert set(paths["/api/v1/projects/{slug}/tasks/next/"]["post"]["responses"]) == {
        "200",
        "204",
    }
    export = paths["/api/v1/projects/{slug}/export/"]["get"]
    enums = {p["name"]: p["schema"].get("enum") for p in export["parameters"]}
    assert enums["format"] == ["native"]
    assert enums["status"] == ["all", "submitted"]
    assert "application/x-ndjson" in export["responses"]["200"]["content"]


def test_schema_documents_the_annotation_body_with_version_required(api, annotator):
    components = _schema(api(annotator))["components"]["schemas"]

    body = components["AnnotationWriteRequest"]
    assert set(body["properties"]) == {"version", "turns", "conversation", "submit"}
    assert body["required"] == ["version"]


def test_schema_refuses_post_with_405(api, annotator):
    response = api(annotator).post(SCHEMA)

    assert response.status_code == 405


def test_schema_generates_without_warnings(tmp_path):
    reset_generator_stats()
    try:
        call_command("spectacular", "--fail-on-warn", "--file", str(tmp_path / "schema.yml"))
    finally:
        reset_generator_stats()

    assert (tmp_path / "schema.yml").read_text().startswith("openapi: 3.")


def test_swagger_ui_loads_scripts_and_styles_only_from_local_static_files(api, annotator):
    response = api(annotator).get(DOCS)

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    assets = ASSET.findall(html)
    assert any(a.endswith("swagger-ui-bundle.js") for a in assets)
    assert any(a.endswith("swagger-ui.css") for a in assets)
    assert not [a for a in assets if re.match(r"(https?:)?//", a, re.IGNORECASE)]
    assert not re.search(r"<(script|link)\b[^>]*https?://", html, re.IGNORECASE)
    assert 'url: "/api/schema/"' in html


def test_every_asset_of_the_docs_page_is_a_bundled_static_file(api, annotator, settings):
    html = api(annotator).get(DOCS).content.decode()
    static_url = "/" + settings.STATIC_URL.lstrip("/")

    assets = ASSET.findall(html)

    assert assets
    for asset in assets:
        assert asset.startswith(static_url), asset
        assert finders.find(asset.removeprefix(static_url)) is not None, asset


def test_schema_documents_the_task_list_filters_and_cursor(api, annotator):
    task_list = _schema(api(annotator))["paths"]["/api/v1/projects/{slug}/tasks/"]["get"]

    params = {p["name"]: p["schema"] for p in task_list["parameters"]}
    assert {"status", "assignee", "cursor", "page_size"} <= set(params)
    assert "escalated" in params["status"]["enum"]
    assert "page" not in params
