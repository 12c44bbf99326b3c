"""Counter growth over a window, kept in a real SQLite state file across instances."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from console.core import statedb
from console.core.counters import FORGET_AFTER, CounterHistory, Sample

WINDOW = 600.0
T0 = 1_700_000_000.0


def stored_rows(state_dir: Path, namespace: str) -> list[tuple[str, str | None, float, int]]:
    connection = sqlite3.connect(statedb.state_file(state_dir))
    try:
        return connection.execute(
            "SELECT key, identity, ts, count FROM counter_samples WHERE namespace = ? "
            "ORDER BY key, ts", (namespace,)).fetchall()
    finally:
        connection.close()


def test_first_sample_is_no_growth_then_increments_add_up(state_dir: Path) -> None:
    history = CounterHistory(state_dir, "docker:a", WINDOW)
    assert history.record([Sample("web", 4)], T0) == {"web": 0}
    assert history.record([Sample("web", 6)], T0 + 10) == {"web": 2}
    assert history.record([Sample("web", 9)], T0 + 20) == {"web": 5}


def test_a_dropped_count_is_a_reset_and_the_new_count_counts_in_full(state_dir: Path) -> None:
    history = CounterHistory(state_dir, "systemd:a", WINDOW)
    history.record([Sample("app.service", 5)], T0)
    assert history.record([Sample("app.service", 2)], T0 + 10) == {"app.service": 2}
    assert history.record([Sample("app.service", 3)], T0 + 20) == {"app.service": 3}


def test_a_new_identity_is_a_reset_even_when_the_count_is_higher(state_dir: Path) -> None:
    history = CounterHistory(state_dir, "docker:a", WINDOW)
    history.record([Sample("web", 1, "old-id")], T0)
    # a recreated container that already restarted 3 times: 3 restarts, not 2
    assert history.record([Sample("web", 3, "new-id")], T0 + 10) == {"web": 3}
    assert history.record([Sample("web", 3, "new-id")], T0 + 20) == {"web": 3}


def test_growth_before_the_window_drops_out_and_the_last_sample_stays_the_baseline(
        state_dir: Path) -> None:
    history = CounterHistory(state_dir, "systemd:a", WINDOW)
    history.record([Sample("app.service", 0)], T0)
    history.record([Sample("app.service", 4)], T0 + 100)
    history.record([Sample("app.service", 5)], T0 + 200)
    # at T0 + 750 the window starts at T0 + 150: the sample at T0 + 100 is the baseline
    assert history.record([Sample("app.service", 5)], T0 + 750) == {"app.service": 1}
    assert history.record([Sample("app.service", 7)], T0 + 900) == {"app.service": 2}
    assert history.record([Sample("app.service", 7)], T0 + 2000) == {"app.service": 0}


def test_only_changes_are_stored_and_superseded_samples_are_pruned(state_dir: Path) -> None:
    history = CounterHistory(state_dir, "systemd:a", WINDOW)
    for offset in range(0, 50, 10):
        history.record([Sample("app.service", 1)], T0 + offset)
    assert stored_rows(state_dir, "systemd:a") == [("app.service", None, T0, 1)]
    history.record([Sample("app.service", 2)], T0 + 100)
    history.record([Sample("app.service", 3)], T0 + 5000)
    # the sample at T0 is older than the baseline (T0 + 100) of the window ending at T0 + 5000
    assert stored_rows(state_dir, "systemd:a") == [("app.service", None, T0 + 100, 2),
                                                   ("app.service", None, T0 + 5000, 3)]


def test_growth_is_seen_by_a_new_instance_as_by_a_later_cron_run(state_dir: Path) -> None:
    CounterHistory(state_dir, "docker:a", WINDOW).record(
        [Sample("web", 2, "id1"), Sample("db", 0, "id2")], T0)
    later = CounterHistory(state_dir, "docker:a", WINDOW)
    assert later.record([Sample("web", 5, "id1"), Sample("db", 0, "id2")], T0 + 60) == \
        {"web": 3, "db": 0}
    # a third run still measures from the first run's baseline, inside the window
    third = CounterHistory(state_dir, "docker:a", WINDOW)
    assert third.record([Sample("web", 6, "id1")], T0 + 120) == {"web": 4}
    recreated = CounterHistory(state_dir, "docker:a", WINDOW)
    assert recreated.record([Sample("web", 1, "id9")], T0 + 180) == {"web": 5}


def test_a_baseline_older_than_the_window_survives_across_instances(state_dir: Path) -> None:
    CounterHistory(state_dir, "systemd:a", WINDOW).record([Sample("app.service", 3)], T0)
    later = CounterHistory(state_dir, "systemd:a", WINDOW)
    assert later.record([Sample("app.service", 8)], T0 + 10 * WINDOW) == {"app.service": 5}


def test_namespaces_do_not_mix(state_dir: Path) -> None:
    CounterHistory(state_dir, "docker:a", WINDOW).record([Sample("web", 1)], T0)
    CounterHistory(state_dir, "docker:b", WINDOW).record([Sample("web", 9)], T0)
    assert CounterHistory(state_dir, "docker:a", WINDOW).record(
        [Sample("web", 2)], T0 + 10) == {"web": 1}
    assert CounterHistory(state_dir, "docker:b", WINDOW).record(
        [Sample("web", 9)], T0 + 10) == {"web": 0}


def test_a_key_gone_for_a_week_is_forgotten_but_a_steady_one_is_not(state_dir: Path) -> None:
    history = CounterHistory(state_dir, "docker:a", WINDOW)
    history.record([Sample("removed", 1), Sample("steady", 4), Sample("busy", 0)], T0)
    history.record([Sample("steady", 4), Sample("busy", 1)], T0 + FORGET_AFTER + 1)
    assert [row[0] for row in stored_rows(state_dir, "docker:a")] == ["busy", "busy", "steady"]


def test_an_unwritable_state_dir_still_measures_growth_in_memory(tmp_path: Path) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("in the way\n")
    history = CounterHistory(not_a_dir / "state", "systemd:a", WINDOW)
    assert history.record([Sample("app.service", 1)], T0) == {"app.service": 0}
    assert history.record([Sample("app.service", 4)], T0 + 10) == {"app.service": 3}
