"""Shared loading and evaluation helpers for the infra template tests.

The template is read with cfn-lint's decoder (it understands the short CloudFormation tags) and
also translated offline with the SAM translator (so Globals, event sources and the HTTP API are
checked as CloudFormation will see them). Checks are plain functions returning a list of
problems, so tests can run them on mutated copies of the template and prove they fail.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
TEMPLATE = INFRA / "template.yaml"
PERMISSIONS = INFRA / "permissions.json"
BUNDLED_CONFIG = INFRA / "hookgate.toml"

# function key in permissions.json -> (function, role, log group) logical ids
FUNCTIONS = {
    "ingest": ("IngestFunction", "IngestRole", "IngestLogGroup"),
    "processor": ("ProcessorFunction", "ProcessorRole", "ProcessorLogGroup"),
    "replay": ("ReplayFunction", "ReplayRole", "ReplayLogGroup"),
}

CONDITIONS = [
    "HasReservedConcurrency",
    "HasPayloadBucket",
    "HasAlarmEmail",
    "HasCustomConfig",
    "HasEventBus",
    "HasTargetFunction",
]

NO_VALUE = object()


def load_template(path: Path = TEMPLATE) -> dict:
    from cfnlint.decode import decode

    tpl, matches = decode(str(path))
    assert not matches, f"template does not parse: {matches}"
    return tpl


def sam_translate(tpl: dict) -> dict:
    """SAM -> CloudFormation, offline (local CodeUri swapped for a dummy S3 location first)."""
    from samtranslator.translator.transform import transform

    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    tpl = copy.deepcopy(tpl)
    for res in tpl["Resources"].values():
        if res["Type"] == "AWS::Serverless::Function":
            res["Properties"]["CodeUri"] = "s3://bucket/key"

    class NoManagedPolicies:
        def load(self):
            return {}

    return transform(tpl, {}, NoManagedPolicies())


def resolve_conditions(node, conds: dict[str, bool]):
    """Evaluates Fn::If with the given condition values and drops AWS::NoValue."""
    if isinstance(node, dict):
        if set(node) == {"Fn::If"}:
            name, yes, no = node["Fn::If"]
            return resolve_conditions(yes if conds[name] else no, conds)
        if node == {"Ref": "AWS::NoValue"}:
            return NO_VALUE
        out = {}
        for k, v in node.items():
            r = resolve_conditions(v, conds)
            if r is not NO_VALUE:
                out[k] = r
        return out
    if isinstance(node, list):
        return [r for r in (resolve_conditions(v, conds) for v in node) if r is not NO_VALUE]
    return node


def all_conditions(value: bool) -> dict[str, bool]:
    return {c: value for c in CONDITIONS}


def param_defaults(tpl: dict) -> dict[str, str]:
    return {k: str(v.get("Default", "")) for k, v in tpl["Parameters"].items()}


def as_list(x):
    return x if isinstance(x, list) else [x]


@pytest.fixture(scope="session")
def template() -> dict:
    return load_template()


@pytest.fixture(scope="session")
def translated(template) -> dict:
    return sam_translate(template)


@pytest.fixture(scope="session")
def permissions() -> dict:
    return json.loads(PERMISSIONS.read_text())
