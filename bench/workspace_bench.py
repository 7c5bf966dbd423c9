"""Workspace benchmark: server time of the annotator's page and of an autosave, p50/p99.

    .venv/bin/python bench/workspace_bench.py                  # 1,000 rounds
    .venv/bin/python bench/workspace_bench.py --requests 300 --turns 60

On a fresh PostgreSQL database (BENCH_DATABASE_URL, default postgres://postgres@127.0.0.1:
5432/turnwise_workspace_bench, dropped and recreated) with a project of 200 conversations of
--turns turns (a system prompt, then user and assistant turns of 40-120 words), served by
gunicorn (DEBUG off), one annotator logged in through the login page, with their browser's
session cookie and CSRF token, makes these requests one at a time, in --requests rounds of
one of each (interleaved, so that the machine's drift touches them all alike):
- page: GET /projects/<slug>/label/, the workspace of the conversation they are on;
- autosave: POST /tasks/<id>/save/ as htmx sends it (the whole form, the version last seen,
  the answers changing each time), reading the new version from each response;
- trivial: GET /api/v1/me/, the same session and middleware around one one-row SELECT, the
  reference of the target, and GET /healthz, a bare view running SELECT 1;
- first view (--first-views, up to 150), after those rounds: the annotator gives the
  conversation back (POST /tasks/<id>/release/, not timed), then GET /projects/<slug>/label/
  claims the next one and renders it for the first time: no Markdown of it has been seen.
  The page above repeats one conversation; this is what opening each new one costs.
One client at a time, so each latency is the server's time plus a loopback round trip.
Target (issue #5): page and autosave both within 2x of a trivial view's latency.
"""

import argparse
import http.client
import json
import os
import random
import re
import sys
import tempfile
import time
import urllib.parse
from html.parser import HTMLParser
from pathlib import Path

from common import Server, percentile, recreate, server_env, setup_django

DEFAULT_PG = "postgres://postgres@127.0.0.1:5432/turnwise_workspace_bench"
SLUG = "workspace-bench"
PASSWORD = "bench-password-1"
TARGET_RATIO = 2.0
WORDS = (  # noqa: SIM905 (a word list reads better as text)
    "account access policy claim refund wire transfer password reset device laptop vpn "
    "certificate coverage deductible premium benefit leave payroll invoice dashboard report "
    "customer employee manager support ticket request update status team office remote the a "
    "of to in for with on your our we you it is are was be this that which when how why what"
).split()


def seed(turns: int, workdir: Path) -> None:
    from django.db import connection

    from accounts.models import User
    from annotation import imports
    from projects import services as project_services

    lead = User.objects.create_user(username="bench-lead")
    annotator = User.objects.create_user(username="bench-annotator", password=PASSWORD)
    project = project_services.create_project(
        creator=lead, slug=SLUG, name="Workspace benchmark", guidelines="## Be careful\n" * 20
    )
    project_services.set_membership(
        project=project, actor=lead, username=annotator.username, role="annotator"
    )
    rng = random.Random(11)
    path = workdir / "conversations.jsonl"
    roles = ["system"] + ["user", "assistant"] * turns
    with path.open("w") as out:
        for number in range(200):
            record = {
                "id": f"ws-{number}",
                "turns": [
                    {"role": role, "text": " ".join(rng.choices(WORDS, k=rng.randint(40, 120)))}
                    for role in roles[:turns]
                ],
            }
            out.write(json.dumps(record) + "\n")
    with path.open("rb") as stream:
        imports.import_conversations(project=project, stream=stream)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


class FormFields(HTMLParser):
    """What a browser posts for the page's annotation form: its hidden inputs, checked
    radios and checkboxes, and every text box with its text (rewrites start from the turn's
    text), in document order, as htmx sends the whole form on every change."""

    def __init__(self, form_id: str):
        super().__init__(convert_charrefs=True)
        self.form_id, self.inside, self.textarea = form_id, False, None
        self.fields: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        attrs = dict(attrs)
        if tag == "form":
            self.inside = attrs.get("id") == self.form_id
        elif self.inside and tag == "input" and attrs.get("name"):
            kind = attrs.get("type", "text")
            if kind == "hidden" or (kind in ("radio", "checkbox") and "checked" in attrs):
                self.fields.append((attrs["name"], attrs.get("value") or ""))
        elif self.inside and tag == "textarea":
            self.textarea = [attrs["name"], ""]

    def handle_data(self, data: str) -> None:
        if self.textarea is not None:
            self.textarea[1] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.inside = False
        elif tag == "textarea" and self.textarea is not None:
            name, text = self.textarea
            self.fields.append((name, text[1:] if text.startswith("\n") else text))
            self.textarea = None


def form_fields(page: str) -> list[tuple[str, str]]:
    parser = FormFields("annotation-form")
    parser.feed(page)
    return parser.fields


class Browser:
    """One keep-alive connection with a cookie jar, like a logged-in browser tab."""

    def __init__(self, port: int):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.cookies: dict[str, str] = {}

    def request(
        self,
        method: str,
        path: str,
        body: dict | list | None = None,
        headers: dict | None = None,
    ) -> tuple[int, str, float]:
        headers = dict(headers or {})
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        data = None
        if body is not None:
            data = urllib.parse.urlencode(body, doseq=True)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        start = time.perf_counter()
        self.conn.request(method, path, body=data, headers=headers)
        response = self.conn.getresponse()
        text = response.read().decode()
        elapsed = time.perf_counter() - start
        for header, value in response.getheaders():
            if header.lower() == "set-cookie":
                name, _, rest = value.partition("=")
                self.cookies[name] = rest.split(";", 1)[0]
        return response.status, text, elapsed

    def login(self) -> None:
        status, page, _ = self.request("GET", "/accounts/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        status, _, _ = self.request(
            "POST",
            "/accounts/login/",
            {"csrfmiddlewaretoken": token, "username": "bench-annotator", "password": PASSWORD},
            {"Referer": "http://127.0.0.1/accounts/login/"},
        )
        if status != 302:
            sys.exit(f"login failed: {status}")


def measure(rounds: int, calls: dict) -> dict[str, tuple[list[float], int]]:
    """Each call once per round, in turn: latencies and errors by name."""
    latencies = {name: [] for name in calls}
    errors = dict.fromkeys(calls, 0)
    for number in range(rounds):
        for name, call in calls.items():
            ok, elapsed = call(number)
            if ok:
                latencies[name].append(elapsed)
            else:
                errors[name] += 1
    return {name: (latencies[name], errors[name]) for name in calls}


def line(name: str, latencies: list[float], errors: int) -> str:
    p50, p99 = percentile(latencies, 0.5), percentile(latencies, 0.99)
    count = f"{len(latencies):,} requests, {errors} errors"
    return f"{name:<10} p50 {p50:7.2f} ms  p99 {p99:7.2f} ms  ({count})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--turns", type=int, default=13, help="turns per conversation")
    parser.add_argument(
        "--first-views", type=int, default=150, help="new conversations opened (at most 150)"
    )
    args = parser.parse_args()
    database_url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_PG)
    env = server_env(database_url)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        recreate(database_url, env)
        setup_django(env)
        seed(args.turns, workdir)
        from django.db import connection

        connection.close()
        server = Server(env, workers=2, threads=4, workdir=workdir)
        try:
            server.wait_ready()
            browser = Browser(server.port)
            browser.login()
            label = f"/projects/{SLUG}/label/"
            status, page, _ = browser.request("GET", label)  # claims the first task
            if status != 200:
                sys.exit(f"the workspace answered {status}")
            task_id = re.search(r'hx-post="/tasks/(\d+)/save/"', page).group(1)
            version = re.search(r'id="annotation-version" value="(\d+)"', page).group(1)
            csrf = browser.cookies["csrftoken"]
            assistant = re.search(r'name="turns\.(\d+)\.factuality"', page).group(1)
            print(
                f"gunicorn on 127.0.0.1:{server.port}; a conversation of {args.turns} turns; "
                f"{args.requests:,} rounds of one request of each kind, interleaved",
                flush=True,
            )
            for _warm in range(30):  # imports, template loading, connections: not measured
                browser.request("GET", label)
                browser.request("GET", "/api/v1/me/")

            def page_call(_number: int) -> tuple[bool, float]:
                status, _, elapsed = browser.request("GET", label)
                return status == 200, elapsed

            state = {"version": version}

            # The whole form as the browser has it, with this turn's answers changing.
            changing = {
                f"turns.{assistant}.factuality",
                f"turns.{assistant}.observed_behavior",
                f"turns.{assistant}.rationale",
                "version",
            }
            form = [(name, value) for name, value in form_fields(page) if name not in changing]
            size = len(urllib.parse.urlencode(form))
            print(f"an autosave posts the whole form: {len(form) + 5} fields, {size:,} bytes")

            def save_call(number: int) -> tuple[bool, float]:
                status, body, elapsed = browser.request(
                    "POST",
                    f"/tasks/{task_id}/save/",
                    [
                        *form,
                        ("version", state["version"]),
                        (f"turns.{assistant}.factuality", ["correct", "fabricated"][number % 2]),
                        (f"turns.{assistant}.observed_behavior", "answered"),
                        (f"turns.{assistant}.observed_behavior", "cited_sources"),
                        (f"turns.{assistant}.rationale", f"Checked against the policy ({number})."),
                    ],
                    {"HX-Request": "true", "X-CSRFToken": csrf},
                )
                if found := re.search(r'id="annotation-version" value="(\d+)"', body):
                    state["version"] = found.group(1)
                return status == 200, elapsed

            def trivial_call(_number: int) -> tuple[bool, float]:
                status, _, elapsed = browser.request("GET", "/api/v1/me/")
                return status == 200, elapsed

            def healthz_call(_number: int) -> tuple[bool, float]:
                status, _, elapsed = browser.request("GET", "/healthz")
                return status == 200, elapsed

            current = {"task": task_id}

            def first_view_call(_number: int) -> tuple[bool, float]:
                browser.request(
                    "POST",
                    f"/tasks/{current['task']}/release/",
                    {"csrfmiddlewaretoken": csrf},
                    {"Referer": f"http://127.0.0.1{label}"},
                )
                status, body, elapsed = browser.request("GET", label)
                found = re.search(r'hx-post="/tasks/(\d+)/save/"', body)
                if found:
                    current["task"] = found.group(1)
                return status == 200 and found is not None, elapsed

            # Interleaved, one request of each kind in turn: the machine's speed drifts
            # (other processes, CPU frequency), and a ratio of two phases run minutes
            # apart measured the drift as much as the page.
            results = measure(
                args.requests,
                {
                    "page": page_call,
                    "autosave": save_call,
                    "trivial": trivial_call,
                    "healthz": healthz_call,
                },
            )
            if args.first_views:
                results.update(measure(min(args.first_views, 150), {"first view": first_view_call}))
            for name, (latencies, errors) in results.items():
                print(line(name, latencies, errors), flush=True)
        finally:
            server.stop()
        trivial = results["trivial"][0]
        if "first view" in results:
            ratio = percentile(results["first view"][0], 0.5) / percentile(trivial, 0.5)
            print(f"first view p50 = {ratio:.1f}x the trivial view's (for reference; no target)")
        for name in ("page", "autosave"):
            for share, label_ in ((0.5, "p50"), (0.99, "p99")):
                ratio = percentile(results[name][0], share) / percentile(trivial, share)
                verdict = "meets" if ratio <= TARGET_RATIO else "misses"
                print(
                    f"{name} {label_} = {ratio:.1f}x the trivial view's "
                    f"(target <= {TARGET_RATIO:g}x: {verdict} it)"
                )
        if any(errors for _, errors in results.values()):
            sys.exit("some requests failed")


if __name__ == "__main__":
    main()
