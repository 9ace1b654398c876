"""Metrics: built with prometheus-client, written atomically, pushed with the Prow job label
renamed, read back for a refresh; a job's standing from its files alone."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from crawler.output.health import read_health
from crawler.output.metrics import (
    JOB_METRICS,
    METRICS,
    PUSHED_JOB_LABEL,
    Samples,
    last_success_path,
    read_file_samples,
    redact_url,
    registry_of,
    write_file,
)
from crawler.output.status import age
from crawler.state.checkpoint import Checkpoint, write_checkpoint
from tests.unit.factories import job_spec, snowflake_at

NOW = 1_785_000_000.0


def samples() -> Samples:
    s = Samples()
    s.set("prow_crawler_last_run_success", 1)
    s.set("prow_crawler_job_tracked_builds", 7, job="a")
    s.set("prow_crawler_job_tracked_builds", 9, job="b")
    s.set("prow_crawler_run_builds", 2, job="a", outcome="uploaded")
    return s


def parsed(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (x.name, tuple(sorted(x.labels.items()))): x.value
        for family in text_string_to_metric_families(text)
        for x in family.samples
    }


def test_every_metric_is_a_prefixed_gauge_name_with_bounded_labels():
    for name, (help_text, labels) in METRICS.items():
        assert name.startswith("prow_crawler_") and help_text.endswith(".")
        assert set(labels) <= {"job", "outcome", "service"}
    assert set(JOB_METRICS) <= set(METRICS)
    with pytest.raises(KeyError):
        Samples().set("prow_crawler_no_such_metric", 1)


def test_write_file_is_the_exposition_format_and_leaves_no_temporary_file(tmp_path):
    path = tmp_path / "m.prom"
    write_file(samples(), path)
    assert parsed(path.read_text()) == {
        ("prow_crawler_last_run_success", ()): 1.0,
        ("prow_crawler_job_tracked_builds", (("job", "a"),)): 7.0,
        ("prow_crawler_job_tracked_builds", (("job", "b"),)): 9.0,
        ("prow_crawler_run_builds", (("job", "a"), ("outcome", "uploaded"))): 2.0,
    }
    assert "# TYPE prow_crawler_job_tracked_builds gauge" in path.read_text()
    assert [p.name for p in tmp_path.iterdir()] == ["m.prom"]


def test_a_file_that_cannot_be_written_leaves_nothing_behind(tmp_path):
    target = tmp_path / "dir.prom"
    target.mkdir()  # renaming a file over a directory fails
    with pytest.raises(OSError):
        write_file(samples(), target)
    assert [p.name for p in tmp_path.iterdir()] == ["dir.prom"]


def test_pushed_samples_carry_the_prow_job_as_exported_job():
    from prometheus_client import generate_latest

    text = generate_latest(registry_of(samples(), job_label=PUSHED_JOB_LABEL)).decode()
    got = parsed(text)
    assert ("prow_crawler_job_tracked_builds", (("exported_job", "a"),)) in got
    assert not any("job" in dict(labels) for _, labels in got)


def test_reading_back_keeps_only_what_is_asked_and_forgives_a_broken_file(tmp_path):
    path = tmp_path / "m.prom"
    write_file(samples(), path)
    kept = read_file_samples(path, ["prow_crawler_last_run_success", "prow_crawler_run_builds"])
    assert set(kept.names()) == {"prow_crawler_last_run_success", "prow_crawler_run_builds"}
    path.write_text("this is { not exposition\n")
    assert not list(read_file_samples(path, METRICS).names())
    assert not list(read_file_samples(tmp_path / "missing.prom", METRICS).names())


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://pg:9091", "http://pg:9091"),
        ("https://user:pa55@pg.example:9091/x", "https://***@pg.example:9091/x"),
        ("http://token@pg", "http://***@pg"),
    ],
)
def test_urls_in_messages_carry_no_credentials(url, shown):
    assert redact_url(url) == shown


def test_the_last_success_marker_cannot_collide_with_a_job_and_names_its_shard(tmp_path):
    assert last_success_path(tmp_path, "all").name == ".last-success.all"
    assert last_success_path(tmp_path, "1/4").name == ".last-success.1-of-4"


def test_health_from_files_alone(tmp_path):
    spec = job_spec()
    newest = snowflake_at(NOW - 7200)
    (tmp_path / f"{spec.name}.txt").write_text(f"{snowflake_at(NOW - 9000)}\n{newest}\n")
    write_checkpoint(tmp_path, spec.name, Checkpoint(backlog=4, behind_since=NOW - 3600))
    health = read_health(tmp_path, spec, NOW)
    assert (health.tracked, health.newest, health.backlog) == (2, newest, 4)
    assert health.newest_started == pytest.approx(NOW - 7200, abs=0.001)
    assert health.newest_age(NOW) == pytest.approx(7200, abs=0.001)
    assert health.lag_seconds == pytest.approx(3600)
    # Small IDs: the start comes from the checkpoint, if it is about the same build.
    (tmp_path / f"{spec.name}.txt").write_text("41\n42\n")
    write_checkpoint(tmp_path, spec.name, Checkpoint(newest_id=42, newest_started=1.5e9))
    assert read_health(tmp_path, spec, NOW).newest_started == 1.5e9
    write_checkpoint(tmp_path, spec.name, Checkpoint(newest_id=41, newest_started=1.4e9))
    assert read_health(tmp_path, spec, NOW).newest_started is None


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, "-"),
        (0, "0m"),
        (59, "0m"),
        (420, "7m"),
        (5 * 3600 + 720, "5h12m"),
        (3 * 86400 + 14400, "3d4h"),
    ],
)
def test_ages_read_at_a_glance(seconds, text):
    assert age(seconds) == text
