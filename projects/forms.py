"""Forms of the schema editor and the guidelines page.

The schema editor posts the whole schema as one form. Each question row has an id (a short
token that only lives in the page) and its fields are named after it:

    questions=<id>                       one per row, in page order
    q-<id>-key, -prompt, -help, -scope, -kind, -min, -max, -required, -roles (repeated)
    q-<id>-options=<option id>           one per option row, in page order
    q-<id>-o-<option id>-value, -label, -hotkey

Browsers post fields in page order, so the order of the `questions` values is the order of
the rows. Reading a post never fails: the rows come back as drafts, and only saving checks
them (projects.schemas.clean_questions) so a half-written row can still be moved or removed.
"""

import json
import re
import secrets
from typing import Any

from django import forms
from django.http import QueryDict

from projects import schemas
from projects.models import LabelSchema, Question

ROW_ID = re.compile(r"^[a-z0-9]{1,16}$")
MAX_IMPORT_BYTES = 1024 * 1024
MAX_GUIDELINES = 50_000


def new_row_id() -> str:
    return secrets.token_hex(4)


def new_option() -> dict[str, str]:
    return {"id": new_row_id(), "value": "", "label": "", "hotkey": ""}


def new_question() -> dict[str, Any]:
    return {
        "id": new_row_id(),
        "key": "",
        "prompt": "",
        "help": "",
        "scope": Question.Scope.TURN,
        "roles": ["assistant"],
        "kind": Question.Kind.SINGLE,
        "min": 1,
        "max": 5,
        "required": False,
        "options": [new_option()],
    }


def drafts_from_schema(schema: LabelSchema | dict[str, Any]) -> list[dict[str, Any]]:
    """The stored questions as editor rows (from a schema, or schema_as_dict of one)."""
    data = schema if isinstance(schema, dict) else schemas.schema_as_dict(schema)
    drafts = []
    for number, question in enumerate(data["questions"], start=1):
        drafts.append(
            {
                **question,
                "id": str(number),
                "min": question.get("min", 1),
                "max": question.get("max", 5),
                "options": [
                    {"id": str(n), **option}
                    for n, option in enumerate(question["options"], start=1)
                ],
            }
        )
    return drafts


def _ids(post: QueryDict, name: str, limit: int) -> list[str]:
    ids = [value for value in post.getlist(name) if ROW_ID.match(value)]
    # One past the limit is kept, so saving still says what the limit is.
    return list(dict.fromkeys(ids))[: limit + 1]


def drafts_from_post(post: QueryDict) -> list[dict[str, Any]]:
    """The editor's rows as posted, unchecked."""
    drafts = []
    for row in _ids(post, "questions", schemas.MAX_QUESTIONS):
        prefix = f"q-{row}-"
        drafts.append(
            {
                "id": row,
                "key": post.get(prefix + "key", "").strip(),
                "prompt": post.get(prefix + "prompt", ""),
                "help": post.get(prefix + "help", "").replace("\r\n", "\n"),
                "scope": post.get(prefix + "scope", ""),
                "roles": post.getlist(prefix + "roles"),
                "kind": post.get(prefix + "kind", ""),
                "min": post.get(prefix + "min", "").strip(),
                "max": post.get(prefix + "max", "").strip(),
                "required": bool(post.get(prefix + "required")),
                "options": [
                    {
                        "id": option,
                        "value": post.get(f"{prefix}o-{option}-value", "").strip(),
                        "label": post.get(f"{prefix}o-{option}-label", ""),
                        "hotkey": post.get(f"{prefix}o-{option}-hotkey", "").strip(),
                    }
                    for option in _ids(post, prefix + "options", schemas.MAX_OPTIONS)
                ],
            }
        )
    return drafts


def _whole_number(raw: Any) -> Any:
    try:
        return int(raw)
    except (TypeError, ValueError):
        return raw  # left for clean_questions to name


def questions_from_drafts(drafts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Editor rows in the schema's JSON shape, for projects.services.save_schema."""
    questions = []
    for draft in drafts:
        question = {
            "key": draft["key"],
            "prompt": draft["prompt"],
            "help": draft["help"],
            "scope": draft["scope"],
            "roles": draft["roles"],
            "kind": draft["kind"],
            "required": draft["required"],
        }
        if draft["kind"] in Question.CHOICE_KINDS:
            question["options"] = [
                {key: option[key] for key in ("value", "label", "hotkey")}
                for option in draft["options"]
            ]
        if draft["kind"] == Question.Kind.RATING:
            question["min"] = _whole_number(draft["min"])
            question["max"] = _whole_number(draft["max"])
        questions.append(question)
    return questions


# What clean_questions' messages start with: questions[2] ("tone").options[1].hotkey ...
ERROR_AT = re.compile(r'^questions\[(\d+)\](?: \("[^"]*"\))?(?:\.options\[(\d+)\])?(?:\.(\w+))?')


def mark_error(drafts: list[dict[str, Any]], message: str) -> dict[str, Any] | None:
    """Mark the row (and the field, when the message names one) that an error is about;
    return that row."""
    match = ERROR_AT.match(message)
    if match is None or not 0 < int(match.group(1)) <= len(drafts):
        return None
    draft = drafts[int(match.group(1)) - 1]
    draft["error"] = message
    target = draft
    if match.group(2):
        options = draft["options"]
        number = int(match.group(2))
        target = options[number - 1] if 0 < number <= len(options) else {}
    target["error_field"] = match.group(3)
    return draft


class SchemaImportForm(forms.Form):
    file = forms.FileField(required=False, label="JSON file")
    text = forms.CharField(
        required=False,
        strip=True,
        label="…or paste JSON",
        max_length=MAX_IMPORT_BYTES,
        widget=forms.Textarea(attrs={"rows": 6, "spellcheck": "false"}),
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        upload, text = data.get("file"), data.get("text")
        if self.errors:
            return data
        if upload and text:
            raise forms.ValidationError("Choose a file or paste JSON, not both.")
        if upload:
            if upload.size > MAX_IMPORT_BYTES:
                raise forms.ValidationError("The file is larger than 1 MB.")
            try:
                text = upload.read().decode("utf-8-sig")
            except UnicodeDecodeError:
                raise forms.ValidationError("The file is not UTF-8 text.") from None
        if not text:
            raise forms.ValidationError("Choose a file or paste JSON.")
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(
                f"This is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})."
            ) from None
        if isinstance(parsed, dict) and "questions" in parsed:
            parsed = parsed["questions"]
        if not isinstance(parsed, list):
            raise forms.ValidationError(
                'Expected an object with a "questions" list, as "Download JSON" gives, '
                "or a list of questions."
            )
        data["questions"] = parsed
        return data


class GuidelinesForm(forms.Form):
    # Not stripped: whitespace is part of Markdown.
    text = forms.CharField(
        required=False,
        strip=False,
        max_length=MAX_GUIDELINES,
        label="Guidelines (Markdown)",
        widget=forms.Textarea(attrs={"rows": 24, "spellcheck": "true"}),
    )

    def clean_text(self) -> str:
        # Browsers send a textarea's line breaks as CRLF; the stored text uses LF.
        return self.cleaned_data["text"].replace("\r\n", "\n")
