"""The [[celery]] config entry and the failed-task store's retention (no services needed)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from backends.celery.config import CeleryConfig
from backends.celery.store import FailedStore, Failure
from console.config import parse_config
from console.core.errors import ConfigError


def parse(body: str) -> CeleryConfig:
    config = parse_config("[[celery]]\n" + body, Path("config.toml"))
    entry = config.sections["celery"][0]
    assert isinstance(entry, CeleryConfig)
    return entry


def test_expect_workers_takes_a_count_or_names() -> None:
    counted = parse('name = "a"\nbroker = "redis://127.0.0.1:6379/1"\nexpect_workers = 2\n')
    named = parse('name = "a"\nbroker = "redis://127.0.0.1:6379/1"\n'
                  'expect_workers = ["w1@h", "w2@h"]\nretention = "2d"\n')
    assert counted.expected_workers == 2
    assert named.expected_workers == 2
    assert named.expect_names == ("w1@h", "w2@h")
    assert named.retention == 172800


@pytest.mark.parametrize(("body", "message"), [
    ('name = "a"\nbroker = "localhost"\n', "'broker': expected a redis:// URL"),
    ('name = "a"\nbroker = "redis://h/1"\nexpect_workers = true\n', "'expect_workers'"),
    ('name = "a"\nbroker = "redis://h/1"\nfailed_per_hour = { warn = "x" }\n', "'warn'"),
    ('name = "a"\nbroker = "redis://h/1"\nbeat = "x"\n', "'beat': unknown key"),
    ('name = "a"\nbroker = "redis://h/1"\nretention = "forever"\n', "'retention'"),
])
def test_bad_config_is_one_clear_line(body: str, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse(body)
    text = str(error.value)
    assert message in text and "config.toml" in text and "\n" not in text


def test_store_keeps_exact_arguments_and_prunes_past_retention(tmp_path: Path) -> None:
    store = FailedStore(tmp_path, "app", retention=3600, max_rows=100)
    now = time.time()
    store.record([Failure("old", "t.x", now - 7200, "E", "tb", source="results", args=[1],
                          kwargs={})])
    store.record([Failure("new", "t.x", now, "E", "tb", source="events", args_repr="(2,)",
                          kwargs_repr="{}")])
    assert store.get("new") is not None and not store.get("new").resendable  # type: ignore[union-attr]
    store.record([Failure("new", "t.x", now, "E", "tb", source="results", args=[2],
                          kwargs={"k": 1})])
    assert store.exact_arguments("new") == ([2], {"k": 1})
    assert store.prune(now) == 1
    assert store.get("old") is None
    assert [t.task_id for t in FailedStore(tmp_path, "app", 3600, 100).recent()] == ["new"]
