"""The operator's runbook and metrics stay in step with the template and the code:

- every alarm in infra/template.yaml has a row in the README's "Runbook";
- every EMF metric name the dashboard reads is one the code emits (shared/src/metrics.rs).
"""

from __future__ import annotations

import re

from conftest import ROOT


def _runbook() -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index("### Runbook")
    end = text.index("\n## ", start)
    return text[start:end]


def test_every_alarm_has_a_runbook_entry(template):
    alarms = [lid for lid, r in template["Resources"].items() if r["Type"] == "AWS::CloudWatch::Alarm"]
    assert alarms
    runbook = _runbook()
    missing = [a for a in alarms if f"**{a}**" not in runbook]
    assert not missing, f"alarms without a runbook entry: {missing}"
    for status in ("dead", "failed", "quarantined", "stuck"):
        assert f"**{status}**" in runbook, status


def test_dashboard_metrics_are_emitted_by_the_code(template):
    code = (ROOT / "shared" / "src" / "metrics.rs").read_text()
    emitted = set(re.findall(r'pub const [A-Z0-9_]+: &str = "([a-z0-9_]+)";', code))
    body = template["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    used = set(re.findall(r'MetricName=\\"([a-z0-9_]+)\\"', body))
    assert used, "the dashboard reads no EMF metric"
    assert used <= emitted, f"dashboard metrics the code never emits: {used - emitted}"
    assert 'NAMESPACE: &str = "Hookgate"' in code and "{Hookgate," in body
