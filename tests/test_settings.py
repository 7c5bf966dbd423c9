import os
import subprocess
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_int, env_list


def test_env_bool_reads_common_spellings_and_refuses_others(monkeypatch):
    monkeypatch.setenv("FLAG", "yes")
    assert env_bool("FLAG", default=False) is True
    monkeypatch.setenv("FLAG", "0")
    assert env_bool("FLAG", default=True) is False
    monkeypatch.delenv("FLAG")
    assert env_bool("FLAG", default=True) is True
    monkeypatch.setenv("FLAG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="FLAG must be one of"):
        env_bool("FLAG", default=False)


def test_env_int_refuses_non_numbers_and_values_below_the_minimum(monkeypatch):
    monkeypatch.setenv("N", "12")
    assert env_int("N", 1) == 12
    monkeypatch.setenv("N", "lots")
    with pytest.raises(ImproperlyConfigured, match="N must be a whole number"):
        env_int("N", 1)
    monkeypatch.setenv("N", "0")
    with pytest.raises(ImproperlyConfigured, match="at least 1"):
        env_int("N", 5, minimum=1)


def test_env_list_splits_on_commas(monkeypatch):
    monkeypatch.setenv("HOSTS", "a.example, b.example,,")
    assert env_list("HOSTS", []) == ["a.example", "b.example"]


def _settings(env: dict, expression: str) -> subprocess.CompletedProcess:
    """Load the settings in a fresh interpreter with this environment and print something."""
    code = (
        "import os; os.environ['DJANGO_SETTINGS_MODULE'] = 'config.settings'; "
        f"from django.conf import settings as s; print({expression})"
    )
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
    )


def _environ(*, without: tuple[str, ...], **extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in without}
    env.update(extra)
    return env


def test_settings_refuse_to_start_without_a_secret_when_debug_is_off(tmp_path):
    env = _environ(
        without=("SECRET_KEY", "DEBUG"),
        DATABASE_URL="postgres://nobody@127.0.0.1:1/none",
        VAR_DIR=str(tmp_path),
    )
    result = _settings(env, "s.DEBUG")
    assert result.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is off" in result.stderr


def test_embedded_default_uses_sqlite_eager_celery_debug_and_a_kept_secret(tmp_path):
    env = _environ(
        without=("SECRET_KEY", "DEBUG", "DATABASE_URL", "REDIS_URL"), VAR_DIR=str(tmp_path)
    )
    expression = (
        "s.DATABASES['default']['ENGINE'], s.CELERY_TASK_ALWAYS_EAGER, s.DEBUG, s.SECRET_KEY"
    )
    first = _settings(env, expression)
    second = _settings(env, expression)
    engine, eager, debug, secret = first.stdout.split()
    assert (engine, eager, debug) == ("django.db.backends.sqlite3", "True", "True")
    assert (tmp_path / "secret_key").read_text().strip() == secret
    assert second.stdout == first.stdout


def test_redis_url_switches_celery_to_a_real_broker(tmp_path):
    env = _environ(
        without=("DATABASE_URL",), REDIS_URL="redis://127.0.0.1:6399/3", VAR_DIR=str(tmp_path)
    )
    result = _settings(env, "s.CELERY_BROKER_URL, s.CELERY_TASK_ALWAYS_EAGER")
    assert result.stdout.split() == ["redis://127.0.0.1:6399/3", "False"]


@pytest.mark.parametrize(
    ("flag", "expected"),
    [(None, "True 5"), ("1", "True 5"), ("0", "None None")],
)
def test_postgresql_prepares_statements_unless_turned_off(tmp_path, flag, expected):
    env = _environ(
        without=("DB_PREPARED_STATEMENTS",),
        DATABASE_URL="postgres://nobody@127.0.0.1:1/none",
        SECRET_KEY="x",
        VAR_DIR=str(tmp_path),
    )
    if flag is not None:
        env["DB_PREPARED_STATEMENTS"] = flag
    options = "s.DATABASES['default'].get('OPTIONS', {})"
    result = _settings(
        env, f"{options}.get('server_side_binding'), {options}.get('prepare_threshold')"
    )
    assert result.stdout.split() == expected.split(), result.stderr
