"""Pages and API lists on a large project: what a lead and an annotator wait for.

    .venv/bin/python bench/import_bench.py --sizes 100000 --backends postgres   # first
    .venv/bin/python bench/pages_bench.py

Runs against the database the import benchmark leaves behind (BENCH_DATABASE_URL, default
postgres://postgres@127.0.0.1:5432/turnwise_bench), on its biggest project, right after the
import: the state a lead is in when they open the project. It adds an annotator to the
project (the bench's lead imported it), then times each page through Django's test client
(the whole request cycle, without a socket), best of --repeat, with the number of queries and
the size of the answer. No target: the figures are there to catch a page that grows with the
project (a count through a join, a plan made for a table PostgreSQL thinks is small).
"""

import argparse
import os
import sys
import time

from common import server_env, setup_django

DEFAULT_PG = "postgres://postgres@127.0.0.1:5432/turnwise_bench"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    env = server_env(os.environ.get("BENCH_DATABASE_URL", DEFAULT_PG))
    env["ALLOWED_HOSTS"] = "testserver"
    setup_django(env)

    from django.db import connection
    from django.db.models import Count
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from rest_framework.test import APIClient

    from accounts.models import User
    from projects import services as project_services
    from projects.models import Membership, Project

    project = (
        Project.objects.annotate(n=Count("conversations")).order_by("-n").first()
        if Project.objects.exists()
        else None
    )
    lead_membership = project and project.memberships.filter(role=Membership.Role.LEAD).first()
    if lead_membership is None:
        sys.exit("No imported project: run bench/import_bench.py --backends postgres first.")
    lead = lead_membership.user
    annotator, _ = User.objects.get_or_create(username="pages-bench-annotator")
    if not project.memberships.filter(user=annotator).exists():
        project_services.set_membership(
            project=project, actor=lead, username=annotator.username, role="annotator"
        )
    conversations = project.conversations.count()
    print(f"project {project.slug}: {conversations:,} conversations, overlap {project.overlap}")

    as_lead, as_annotator, api = Client(), Client(), APIClient()
    as_lead.force_login(lead)
    as_annotator.force_login(annotator)
    api.force_authenticate(lead)
    slug = project.slug
    last_page = max(1, conversations // 50)
    pages = [
        ("lead", as_lead, "/"),
        ("lead", as_lead, f"/projects/{slug}/"),
        ("lead", as_lead, f"/projects/{slug}/dashboard/"),
        ("lead", as_lead, f"/projects/{slug}/queue/"),
        ("lead", as_lead, f"/projects/{slug}/queue/?labeled=no"),
        ("lead", as_lead, f"/projects/{slug}/imports/"),
        ("lead", as_lead, f"/projects/{slug}/schema/"),
        ("annotator", as_annotator, "/"),
        ("annotator", as_annotator, f"/projects/{slug}/label/"),
        ("api", api, "/api/v1/projects/"),
        ("api", api, f"/api/v1/projects/{slug}/conversations/?page={last_page // 2 or 1}"),
        ("api", api, f"/api/v1/projects/{slug}/tasks/"),
        ("api", api, f"/api/v1/projects/{slug}/progress/"),
        ("api", api, f"/api/v1/projects/{slug}/flags/"),
    ]
    print(f"{'best':>9}  status  queries       bytes  who        path")
    for who, client, path in pages:
        best, status, queries, size = float("inf"), 0, 0, 0
        for _ in range(args.repeat):
            with CaptureQueriesContext(connection) as captured:
                start = time.perf_counter()
                response = client.get(path)
                body = (
                    b"".join(response.streaming_content)
                    if getattr(response, "streaming", False)
                    else response.content
                )
                elapsed = time.perf_counter() - start
            best = min(best, elapsed)
            status, queries, size = response.status_code, len(captured), len(body)
        print(f"{best * 1000:7.1f} ms  {status:>6}  {queries:>7}  {size:>10,}  {who:<9}  {path}")


if __name__ == "__main__":
    main()
