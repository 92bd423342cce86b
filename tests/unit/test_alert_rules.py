"""The alert rules in deploy/prometheus: valid for promtool, their unit tests pass, and every
metric they read is one the hosts export."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from tests.conftest import memory_settings, unavailable

from townsquare.bootstrap import bootstrap
from townsquare.core.notifications import NotSentReason, SendResult
from townsquare.hosts.metrics import Metrics, QueueCollector, QueueSnapshot

RULES = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"


@pytest.fixture
def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        unavailable("promtool (Debian package prometheus)", "not installed")
    assert found is not None
    return found


def promtool_run(promtool: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool, *args], cwd=RULES, capture_output=True, text=True, timeout=60, check=False)


def test_the_rules_file_is_valid(promtool: str) -> None:
    result = promtool_run(promtool, "check", "rules", "townsquare.rules.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_the_rule_unit_tests_pass(promtool: str) -> None:
    result = promtool_run(promtool, "test", "rules", "townsquare.rules.test.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_metric_the_rules_read_is_exported() -> None:
    # Given a host's metrics with one observation of each kind
    metrics = Metrics()
    metrics.add_collector(QueueCollector(QueueSnapshot(bootstrap(memory_settings()))))
    metrics.job_ran("mail", succeeded=True, seconds=0.1)
    metrics.notification_sent("push", SendResult(None, NotSentReason.CHANNEL_OFF), 0.01)
    metrics.http_requests.labels("/ready", "GET", "200").observe(0.001)
    exported = set(re.findall(r"^(townsquare_[a-z_]+)", metrics.exposition().decode(), flags=re.MULTILINE))
    # When the rules are read
    rules = (RULES / "townsquare.rules.yml").read_text()
    read = set(re.findall(r"(?<![:a-z_])(townsquare_[a-z_]+)", re.sub(r"#.*", "", rules)))
    # Then each is exported (histograms as _bucket and _count)
    assert read, "no metric names found in the rules"
    assert read <= exported, read - exported
