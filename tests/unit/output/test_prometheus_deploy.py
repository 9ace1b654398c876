"""deploy/prometheus (alert rules, Grafana dashboard) and the CronJob's Pushgateway wiring agree
with the metrics the crawler writes (crawler.output.metrics.METRICS) and with Prometheus' own rules.

Where `promtool` is installed, the rules and the dashboard's queries are also checked by it, and
the alerts are run against made-up series (`promtool test rules`)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer.main
import yaml

from crawler.cli.app import app
from crawler.output.metrics import METRICS, PUSHED_JOB_LABEL

ROOT = Path(__file__).resolve().parents[3]
PROMETHEUS = ROOT / "deploy" / "prometheus"
KUBERNETES = ROOT / "deploy" / "kubernetes"
REQUIRED_ALERTS = {
    "ProwCrawlerRunFailed",
    "ProwCrawlerNoRecentSuccess",
    "ProwCrawlerJobLagging",
    "ProwCrawlerBacklogGrowing",
}
METRIC = re.compile(r"\bprow_crawler_[a-z_]+")
DURATION = re.compile(r"^\d+[smhdwy]$")
SELECTOR = re.compile(r"\b(prow_crawler_[a-z_]+)\s*\{([^}]*)\}")
MATCHER = re.compile(r"([a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)")
GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
# Labels every scraped series has besides its own (`job` is the scrape job, never a Prow job).
TARGET_LABELS = frozenset({"instance"})
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="promtool is not installed")


# -- helpers --------------------------------------------------------------------------------------


def _rules_file() -> dict[str, Any]:
    return yaml.safe_load((PROMETHEUS / "alerts.yaml").read_text())


def _rules() -> list[dict[str, Any]]:
    return [rule for group in _rules_file()["groups"] for rule in group["rules"]]


def _alerts() -> dict[str, dict[str, Any]]:
    return {rule["alert"]: rule for rule in _rules() if "alert" in rule}


def _dashboard() -> dict[str, Any]:
    return json.loads((PROMETHEUS / "dashboard.json").read_text())


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Every panel, those inside collapsed rows included."""
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))


def _panel_exprs() -> list[str]:
    return [
        target["expr"]
        for panel in _panels(_dashboard()["panels"])
        for target in panel.get("targets", [])
    ]


def _scraped_labels(metric: str) -> set[str]:
    """The labels a metric has once scraped: its own, with the Prow job as `exported_job`
    on both routes (README.md, "Labels"), plus the target's."""
    own = METRICS[metric][1]
    return {PUSHED_JOB_LABEL if label == "job" else label for label in own} | TARGET_LABELS


def _balanced(text: str, start: int, step: int) -> str:
    """The parenthesised group of text whose opening (step 1) or closing (step -1) parenthesis
    is at start."""
    depth, i = 0, start
    while 0 <= i < len(text):
        depth += {"(": step, ")": -step}.get(text[i], 0)
        if depth == 0:
            return text[min(start, i) : max(start, i) + 1]
        i += step
    raise AssertionError(f"unbalanced parentheses in {text!r}")


def _grouped_part(expr: str, clause: re.Match[str]) -> str:
    """What a `by (...)` / `without (...)` clause aggregates: the group after it (`max by (l)
    (x)`) or before it (`max (x) by (l)`). Vector matching (`on`, `group_left`...) spans the
    whole expression."""
    if clause.group(1) not in ("by", "without"):
        return expr
    after = expr[clause.end() :]
    if after.lstrip().startswith("("):
        return _balanced(expr, len(expr) - len(after.lstrip()), 1)
    before = expr[: clause.start()].rstrip()
    assert before.endswith(")"), f"{clause.group(0)!r} aggregates nothing in {expr!r}"
    return _balanced(before, len(before) - 1, -1)


def _label_problems(expr: str) -> list[str]:
    """Labels that expr selects or groups by and that its crawler metrics do not have."""
    problems = []
    for name, matchers in SELECTOR.findall(expr):
        for label in MATCHER.findall(matchers):
            if label not in _scraped_labels(name):
                problems.append(f"{name} has no label {label!r}")
    for clause in GROUPING.finditer(expr):
        metrics = set(METRIC.findall(_grouped_part(expr, clause))) & METRICS.keys()
        labels = {label.strip() for label in clause.group(2).split(",") if label.strip()}
        for name in sorted(metrics):
            for label in sorted(labels - _scraped_labels(name)):
                problems.append(f"{clause.group(0)!r}: {name} has no label {label!r}")
    return problems


def _docs(name: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((KUBERNETES / name).read_text()) if d]


def _promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run(
        [PROMTOOL, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


# -- the alert rules ------------------------------------------------------------------------------


def test_rules_file_has_the_structure_prometheus_loads() -> None:
    data = _rules_file()
    assert isinstance(data, dict) and set(data) == {"groups"}
    assert isinstance(data["groups"], list) and data["groups"]
    for group in data["groups"]:
        assert isinstance(group["name"], str) and group["name"]
        assert isinstance(group["rules"], list) and group["rules"]
        for rule in group["rules"]:
            assert ("alert" in rule) != ("record" in rule), rule
            assert set(rule) <= {"alert", "record", "expr", "for", "labels", "annotations"}
            assert isinstance(rule.get("alert", rule.get("record")), str)
            assert isinstance(rule["expr"], str) and rule["expr"].strip()
            if "for" in rule:
                assert DURATION.match(rule["for"]), rule["for"]
            for key in ("labels", "annotations"):
                values = rule.get(key, {})
                assert isinstance(values, dict)
                assert all(isinstance(k, str) and isinstance(v, str) for k, v in values.items())
    names = [rule["alert"] for rule in _rules() if "alert" in rule]
    assert len(names) == len(set(names)), "alert names repeat"


def test_required_alerts_are_there_with_severity_and_texts() -> None:
    alerts = _alerts()
    assert alerts.keys() >= REQUIRED_ALERTS
    for name, rule in alerts.items():
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}, name
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], name


def test_required_alerts_watch_the_right_metric_and_threshold() -> None:
    alerts = _alerts()
    expr = {name: " ".join(alerts[name]["expr"].split()) for name in REQUIRED_ALERTS}
    assert "prow_crawler_last_run_success" in expr["ProwCrawlerRunFailed"]
    assert "== 0" in expr["ProwCrawlerRunFailed"]
    recent = "time() - max by (instance) (prow_crawler_last_success_timestamp_seconds) > 7200"
    assert expr["ProwCrawlerNoRecentSuccess"] == recent
    lag = "max by (exported_job) (prow_crawler_job_lag_seconds) > 21600"
    assert expr["ProwCrawlerJobLagging"] == lag
    assert "prow_crawler_job_backlog_builds[3h]" in expr["ProwCrawlerBacklogGrowing"]


def test_rules_use_only_metrics_the_crawler_writes() -> None:
    used = {name for rule in _rules() for name in METRIC.findall(rule["expr"])}
    assert used <= METRICS.keys(), used - METRICS.keys()
    assert len(used) >= 8, "the rules hardly read the crawler's metrics"


def test_rules_select_and_group_by_labels_the_metrics_have() -> None:
    problems = {name: _label_problems(rule["expr"]) for name, rule in _alerts().items()}
    assert not {name: found for name, found in problems.items() if found}


def test_label_check_catches_grouping_by_the_scrape_job() -> None:
    # The Prow job is `exported_job` once scraped; `job` is the scrape job on both routes.
    assert _label_problems("max by (job) (prow_crawler_job_lag_seconds) > 1")
    assert _label_problems("max(prow_crawler_last_run_success) by (exported_job)")
    assert _label_problems('prow_crawler_requests{outcome="failed"}')
    assert not _label_problems('sum by (service) (prow_crawler_retries{instance=~"0/.*"})')


# -- the dashboard --------------------------------------------------------------------------------


def test_dashboard_panels_have_unique_ids_and_queries() -> None:
    dashboard = _dashboard()
    assert 36 <= dashboard["schemaVersion"] <= 41
    panels = list(_panels(dashboard["panels"]))
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids)), "panel ids repeat"
    for panel in panels:
        if panel["type"] == "row":
            continue
        assert panel["targets"] and all(t["expr"].strip() for t in panel["targets"]), panel
        assert panel["datasource"]["uid"] == "${DS_PROMETHEUS}", panel["title"]
        refs = [t["refId"] for t in panel["targets"]]
        assert len(refs) == len(set(refs)), panel["title"]


def test_dashboard_variables_pick_data_source_instance_and_prow_job() -> None:
    variables = {v["name"]: v for v in _dashboard()["templating"]["list"]}
    assert variables["DS_PROMETHEUS"]["type"] == "datasource"
    assert variables["DS_PROMETHEUS"]["query"] == "prometheus"
    job_query = variables["job"]["query"]["query"]
    assert job_query.startswith("label_values(prow_crawler_job_tracked_builds")
    assert job_query.endswith(f", {PUSHED_JOB_LABEL})")
    assert "instance" in variables


def test_dashboard_queries_use_crawler_metrics_and_their_labels() -> None:
    exprs = _panel_exprs()
    used = {name for expr in exprs for name in METRIC.findall(expr)}
    assert used <= METRICS.keys(), used - METRICS.keys()
    assert used == METRICS.keys(), f"no panel shows {sorted(METRICS.keys() - used)}"
    problems = {expr: _label_problems(expr) for expr in exprs}
    assert not {expr: found for expr, found in problems.items() if found}


# -- the CronJob and its Pushgateway --------------------------------------------------------------


def test_cronjob_pushes_to_the_pushgateway_of_the_output_configmap() -> None:
    (cron,) = _docs("cronjob.yaml")
    (container,) = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    assert container["args"][0] == "run"
    assert "--pushgateway=$(PUSHGATEWAY_URL)" in container["args"]
    env = {e["name"]: e for e in container["env"]}
    ref = env["PUSHGATEWAY_URL"]["valueFrom"]["configMapKeyRef"]
    assert ref == {"name": "prow-crawler-output", "key": "pushgateway-url"}
    # Every $(VAR) in the arguments is defined (JOB_COMPLETION_INDEX: by the Job controller).
    referenced = {v for arg in container["args"] for v in re.findall(r"\$\((\w+)\)", arg)}
    assert referenced <= env.keys() | {"JOB_COMPLETION_INDEX"}

    (kust,) = _docs("kustomization.yaml")
    configmaps = {
        doc["metadata"]["name"]: doc
        for resource in kust["resources"]
        for doc in _docs(resource)
        if doc["kind"] == "ConfigMap"
    }
    url = configmaps[ref["name"]]["data"][ref["key"]]
    assert re.fullmatch(r"https?://[\w.-]+(:\d+)?/?", url), url


def test_the_cli_run_command_takes_the_flags_the_cronjob_passes() -> None:
    (cron,) = _docs("cronjob.yaml")
    (container,) = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    command, *flags = container["args"]
    group = typer.main.get_command(app)
    run = group.commands[command]  # type: ignore[attr-defined]
    options = {opt for param in run.params for opt in param.opts}
    assert {flag.split("=", 1)[0] for flag in flags} <= options


# -- promtool, where installed --------------------------------------------------------------------


@needs_promtool
def test_promtool_accepts_the_rules() -> None:
    result = _promtool("check", "rules", "alerts.yaml", cwd=PROMETHEUS)
    assert result.returncode == 0, result.stdout + result.stderr


@needs_promtool
def test_promtool_accepts_the_dashboard_queries(tmp_path: Path) -> None:
    # Each query as a recording rule, with the dashboard's variables as match-anything regexes.
    rules = [
        {"record": f"dashboard:query_{i}", "expr": re.sub(r"\$\w+", ".*", expr)}
        for i, expr in enumerate(_panel_exprs())
    ]
    groups = {"groups": [{"name": "dashboard", "rules": rules}]}
    (tmp_path / "dashboard.yaml").write_text(yaml.safe_dump(groups))
    result = _promtool("check", "rules", "dashboard.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def _series(name: str, values: str, **labels: str) -> dict[str, str]:
    """An input series of `promtool test rules`; `name` without `prow_crawler_` for the
    crawler's metrics."""
    full = name if name.startswith("push_") else f"prow_crawler_{name}"
    inner = ",".join(f'{k}="{v}"' for k, v in labels.items())
    return {"series": f"{full}{{{inner}}}", "values": values}


def _fires(at: str, alert: str, *labelled: dict[str, str]) -> dict[str, Any]:
    """At time `at`, exactly these alerts (by their labels besides severity) are firing."""
    severity = _alerts()[alert]["labels"]["severity"]
    expected = [{"exp_labels": {"severity": severity, **labels}} for labels in labelled]
    return {"eval_time": at, "alertname": alert, "exp_alerts": expected}


PUSHED = {"job": "prow_crawler"}
FILE = {"job": "node", "instance": "vm:9100"}

# Minute-by-minute series from time 0 (epoch 0: timestamps are minutes * 60); `10x59 20x59`
# is 60 samples of 10, then 60 of 20: a value that a run at minute 60 changed.
SCENARIOS: list[dict[str, Any]] = [
    {
        "input_series": [
            # Shard 0/4 failed at 1h; the second copy of it is from another Pushgateway pod.
            _series("last_run_success", "1x59 0x120", **PUSHED, instance="0/4"),
            _series("last_run_success", "1x59 0x120", **PUSHED, instance="0/4", pod="b"),
            _series("last_run_success", "1x180", **PUSHED, instance="1/4"),
            # Shard 0/4 last succeeded and ended at time 0; shard 1/4 ends a run every minute.
            _series("last_success_timestamp_seconds", "0x180", **PUSHED, instance="0/4"),
            _series("last_success_timestamp_seconds", "0+60x180", **PUSHED, instance="1/4"),
            _series("last_run_timestamp_seconds", "0x180", **PUSHED, instance="0/4"),
            _series("last_run_timestamp_seconds", "0+60x180", **PUSHED, instance="1/4"),
        ],
        "alert_rule_test": [
            _fires("50m", "ProwCrawlerRunFailed"),
            _fires("1h10m", "ProwCrawlerRunFailed", {"instance": "0/4"}),
            _fires("1h50m", "ProwCrawlerNoRecentSuccess"),
            _fires("2h10m", "ProwCrawlerNoRecentSuccess", {"instance": "0/4"}),
            _fires("2h10m", "ProwCrawlerMetricsStale", {"instance": "0/4"}),
        ],
    },
    {
        "input_series": [
            _series("job_lag_seconds", "30000x60", **FILE, exported_job="late"),
            _series("job_lag_seconds", "100x60", **FILE, exported_job="fine"),
            _series("job_success", "1x59 0x240", **PUSHED, instance="0/4", exported_job="bad"),
            _series("job_given_up_builds", "0x59 2x240", **FILE, exported_job="bad"),
            _series("run_stopped", "0x59 1x240", **PUSHED, instance="0/4"),
        ],
        "alert_rule_test": [
            _fires("30m", "ProwCrawlerJobLagging", {"exported_job": "late"}),
            _fires("3h", "ProwCrawlerJobFailing"),
            _fires("4h10m", "ProwCrawlerJobFailing", {"exported_job": "bad"}),
            _fires("3h", "ProwCrawlerRunsHitDeadline"),
            _fires("4h10m", "ProwCrawlerRunsHitDeadline", {"instance": "0/4"}),
            _fires("1h10m", "ProwCrawlerBuildsGivenUp", {"exported_job": "bad"}),
            _fires("4h10m", "ProwCrawlerBuildsGivenUp"),
        ],
    },
    {
        "input_series": [
            # Rose at 1h, 2h and 3h, then stayed: fires from 2h until the 1h step leaves the
            # 3h window.
            _series(
                "job_backlog_builds", "10x59 20x59 30x59 40x240", **FILE, exported_job="steady"
            ),
            # One jump (an outage), then flat.
            _series("job_backlog_builds", "10x59 100x400", **FILE, exported_job="jump"),
            # Up, down, up: never three runs in a row rising.
            _series("job_backlog_builds", "10x59 20x59 15x59 25x300", **FILE, exported_job="dip"),
            _series("job_backlog_builds", "0x400", **FILE, exported_job="empty"),
        ],
        "alert_rule_test": [
            _fires("1h50m", "ProwCrawlerBacklogGrowing"),
            _fires("2h10m", "ProwCrawlerBacklogGrowing", {"exported_job": "steady"}),
            _fires("3h30m", "ProwCrawlerBacklogGrowing", {"exported_job": "steady"}),
            _fires("4h30m", "ProwCrawlerBacklogGrowing", {"exported_job": "steady"}),
            _fires("5h30m", "ProwCrawlerBacklogGrowing"),
        ],
    },
    {
        "input_series": [
            _series("push_failure_time_seconds", "100x20", **PUSHED, instance="2/4"),
            _series("push_time_seconds", "50x20", **PUSHED, instance="2/4"),
            _series("push_failure_time_seconds", "0x20", **PUSHED, instance="3/4"),
            _series("push_time_seconds", "50x20", **PUSHED, instance="3/4"),
        ],
        "alert_rule_test": [
            _fires("10m", "ProwCrawlerPushFailing", {"instance": "2/4"}),
            _fires("1h", "ProwCrawlerMetricsAbsent"),
            _fires("2h10m", "ProwCrawlerMetricsAbsent", {}),
        ],
    },
]


@needs_promtool
def test_promtool_alerts_fire_when_they_should(tmp_path: Path) -> None:
    # promtool compares annotations too: test the expressions, `for` and labels without them.
    rules = _rules_file()
    for rule in (rule for group in rules["groups"] for rule in group["rules"]):
        rule.pop("annotations", None)
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(rules))
    tests = {
        "rule_files": ["rules.yaml"],
        "evaluation_interval": "1m",
        "tests": [{"interval": "1m", **scenario} for scenario in SCENARIOS],
    }
    (tmp_path / "tests.yaml").write_text(yaml.safe_dump(tests))
    result = _promtool("test", "rules", "tests.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_scenarios_cover_every_alert() -> None:
    tested = {t["alertname"] for s in SCENARIOS for t in s["alert_rule_test"] if t["exp_alerts"]}
    assert tested == _alerts().keys()
