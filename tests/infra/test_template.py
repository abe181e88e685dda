"""Checks of infra/template.yaml against infra/permissions.json and the hookgate design.

Each `check_*` returns a list of problems (empty = fine); the tests assert on them, and
`test_mutation_is_caught` proves a broken template makes them fail.
"""

from __future__ import annotations

import copy
import json
import re
import tomllib
from collections import Counter
from pathlib import Path

import pytest
from conftest import (
    BUNDLED_CONFIG,
    CONDITIONS,
    FUNCTIONS,
    ROOT,
    TEMPLATE,
    all_conditions,
    as_list,
    param_defaults,
    resolve_conditions,
    sam_translate,
)

OUTPUT_KEYS = {
    "ApiUrl",
    "TableName",
    "QueueUrl",
    "DlqUrl",
    "IngestFunctionName",
    "ProcessorFunctionName",
    "ReplayFunctionName",
    "SecretArn",
}

EMF_METRICS = [
    "received",
    "duplicate",
    "rejected",
    "processed",
    "end_to_end_latency_ms",
    "handler_duration_ms",
    "retries",
    "dead",
    "replayed",
]


def condition_cases() -> list[dict[str, bool]]:
    """All off, all on, and each condition alone: a grant under the wrong condition shows up."""
    cases = [all_conditions(False), all_conditions(True)]
    for c in CONDITIONS:
        one = all_conditions(False)
        one[c] = True
        cases.append(one)
    return cases


def _canon(x) -> str:
    return json.dumps(x, sort_keys=True)


def resource_symbol(expr, log_group: str) -> str | None:
    """Maps a statement's Resource expression to a permissions.json symbolic resource."""
    known = {
        _canon({"Fn::GetAtt": ["EventsTable", "Arn"]}): "table",
        _canon({"Fn::Sub": "${EventsTable.Arn}/index/*"}): "table_indexes",
        _canon({"Fn::GetAtt": ["Queue", "Arn"]}): "queue",
        _canon({"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}): "dlq",
        _canon({"Ref": "SourceSecrets"}): "secret",
        _canon({"Fn::Sub": "${PayloadBucket.Arn}/*"}): "payload_objects",
        _canon({"Fn::GetAtt": [log_group, "Arn"]}): "log_group",
        _canon({"Ref": "EventBusArn"}): "event_bus",
        _canon({"Ref": "TargetFunctionArn"}): "target_function",
    }
    return known.get(_canon(expr))


# ---------------------------------------------------------------------------------------------
# checks


def role_statements(tpl: dict, role: str, conds: dict[str, bool]) -> tuple[list[dict], list[str]]:
    problems = []
    props = tpl["Resources"][role]["Properties"]
    for key in ("ManagedPolicyArns", "PermissionsBoundary"):
        if key in props:
            problems.append(f"{role}: has {key}; grants must be inline and listed in permissions.json")
    stmts = []
    for pol in resolve_conditions(props.get("Policies", []), conds):
        stmts.extend(as_list(pol["PolicyDocument"]["Statement"]))
    return stmts, problems


def check_grants(tpl: dict, perms: dict) -> list[str]:
    problems = []
    for fn, (_func, role, log_group) in FUNCTIONS.items():
        for conds in condition_cases():
            stmts, p = role_statements(tpl, role, conds)
            problems += p
            got = Counter()
            for st in stmts:
                if st.get("Effect") != "Allow" or "NotAction" in st or "NotResource" in st:
                    problems.append(f"{role}: statement {st.get('Sid')} is not a plain Allow")
                syms = []
                for r in as_list(st.get("Resource", [])):
                    s = resource_symbol(r, log_group)
                    if s is None:
                        problems.append(f"{role}: statement {st.get('Sid')}: unknown resource {r}")
                    syms.append(s)
                got[(frozenset(map(str, syms)), frozenset(as_list(st.get("Action", []))))] += 1
            want = Counter()
            for g in perms[fn]["grants"]:
                if "condition" in g and not conds[g["condition"]]:
                    continue
                want[(frozenset(g["resources"]), frozenset(g["actions"]))] += 1
            on = sorted(c for c, v in conds.items() if v)
            for k in got - want:
                problems.append(f"{fn} (conditions {on}): granted but not in permissions.json: {sorted(k[1])} on {sorted(k[0])}")
            for k in want - got:
                problems.append(f"{fn} (conditions {on}): in permissions.json but not granted: {sorted(k[1])} on {sorted(k[0])}")
    return sorted(set(problems))


def check_env(translated: dict, perms: dict) -> list[str]:
    problems = []
    for fn, (func, _role, _lg) in FUNCTIONS.items():
        for conds in condition_cases():
            props = translated["Resources"][func]["Properties"]
            env = resolve_conditions(props.get("Environment", {}), conds).get("Variables", {})
            want = {
                v
                for v in perms[fn]["env"]
                if conds.get(perms[fn]["env_conditions"].get(v, ""), True)
            }
            on = sorted(c for c, v in conds.items() if v)
            for v in sorted(set(env) - want):
                problems.append(f"{fn} (conditions {on}): env {v} set but not in permissions.json")
            for v in sorted(want - set(env)):
                problems.append(f"{fn} (conditions {on}): env {v} in permissions.json but not set")
    return sorted(set(problems))


def check_iam_hygiene(translated: dict) -> list[str]:
    """No wildcard actions, explicit resources, no managed policies, no extra IAM resources."""
    problems = []
    roles = {lid for lid, r in translated["Resources"].items() if r["Type"] == "AWS::IAM::Role"}
    expected_roles = {role for _f, role, _l in FUNCTIONS.values()}
    if roles != expected_roles:
        problems.append(f"IAM roles {sorted(roles)} != {sorted(expected_roles)} (no generated roles)")
    for lid, r in translated["Resources"].items():
        if r["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::IAM::User", "AWS::IAM::Group"):
            problems.append(f"{lid}: unexpected {r['Type']}")
        if r["Type"] != "AWS::IAM::Role":
            continue
        props = r["Properties"]
        if props.get("ManagedPolicyArns"):
            problems.append(f"{lid}: managed policies {props['ManagedPolicyArns']}")
        for conds in condition_cases():
            for pol in resolve_conditions(props.get("Policies", []), conds):
                for st in as_list(pol["PolicyDocument"]["Statement"]):
                    sid = st.get("Sid")
                    for a in as_list(st.get("Action", [])):
                        if not isinstance(a, str) or "*" in a or "?" in a:
                            problems.append(f"{lid}/{sid}: wildcard or non-literal action {a!r}")
                    res = as_list(st.get("Resource", []))
                    if not res:
                        problems.append(f"{lid}/{sid}: no Resource")
                    for x in res:
                        if x == "*" or (isinstance(x, str) and x.startswith("*")):
                            problems.append(f"{lid}/{sid}: wildcard resource {x!r}")
    return sorted(set(problems))


def visibility_for(tpl: dict, processor_timeout: str) -> int:
    return int(tpl["Mappings"]["ProcessorTimeoutToVisibility"][processor_timeout]["VisibilityTimeout"])


def check_queues(tpl: dict) -> list[str]:
    problems = []
    res, params = tpl["Resources"], tpl["Parameters"]
    q = res["Queue"]["Properties"]
    dlq = res["DeadLetterQueue"]["Properties"]
    rp = q.get("RedrivePolicy", {})
    if rp.get("maxReceiveCount") != {"Ref": "QueueMaxReceiveCount"}:
        problems.append(f"RedrivePolicy.maxReceiveCount not wired to QueueMaxReceiveCount: {rp.get('maxReceiveCount')}")
    if str(params["QueueMaxReceiveCount"].get("Default")) != "5":
        problems.append("QueueMaxReceiveCount default is not 5")
    if rp.get("deadLetterTargetArn") != {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}:
        problems.append("RedrivePolicy does not target the DLQ")
    if str(dlq.get("MessageRetentionPeriod")) != "1209600":
        problems.append(f"DLQ retention {dlq.get('MessageRetentionPeriod')} != 1209600 (14 days)")
    if int(q.get("MessageRetentionPeriod", 345600)) >= 1209600:
        problems.append("main queue retention must be shorter than the DLQ's")
    for name, p in (("Queue", q), ("DeadLetterQueue", dlq)):
        if p.get("SqsManagedSseEnabled") is not True:
            problems.append(f"{name}: SqsManagedSseEnabled is not true")
    rap = dlq.get("RedriveAllowPolicy", {})
    if rap.get("redrivePermission") != "byQueue":
        problems.append("DLQ RedriveAllowPolicy is not byQueue")
    want_arn = {"Fn::Sub": "arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:" + q.get("QueueName", {}).get("Fn::Sub", "<unnamed>")}
    if rap.get("sourceQueueArns") != [want_arn]:
        problems.append(f"DLQ RedriveAllowPolicy does not name exactly the main queue: {rap.get('sourceQueueArns')}")
    # visibility >= 6 x processor timeout, for the default and every allowed timeout
    pt = params["ProcessorTimeout"]
    if q.get("VisibilityTimeout") != {"Fn::FindInMap": ["ProcessorTimeoutToVisibility", {"Ref": "ProcessorTimeout"}, "VisibilityTimeout"]}:
        problems.append(f"Queue VisibilityTimeout is not derived from ProcessorTimeout: {q.get('VisibilityTimeout')}")
    if res["ProcessorFunction"]["Properties"].get("Timeout") != {"Ref": "ProcessorTimeout"}:
        problems.append("ProcessorFunction Timeout is not the ProcessorTimeout parameter")
    allowed = [str(v) for v in pt.get("AllowedValues", [])]
    if str(pt.get("Default")) not in allowed:
        problems.append("ProcessorTimeout default not among its AllowedValues")
    for t in allowed:
        try:
            vis = visibility_for(tpl, t)
        except KeyError:
            problems.append(f"no visibility mapping for ProcessorTimeout {t}")
            continue
        if vis < 6 * int(t):
            problems.append(f"visibility {vis} < 6 x processor timeout {t}")
        if vis > 43200:
            problems.append(f"visibility {vis} above the SQS maximum")
    return problems


def check_event_source(translated: dict, tpl: dict) -> list[str]:
    problems = []
    esms = [
        r["Properties"]
        for r in translated["Resources"].values()
        if r["Type"] == "AWS::Lambda::EventSourceMapping"
    ]
    if len(esms) != 1:
        return [f"expected exactly one event source mapping, found {len(esms)}"]
    e = esms[0]
    want = {
        "EventSourceArn": {"Fn::GetAtt": ["Queue", "Arn"]},
        "FunctionName": {"Ref": "ProcessorFunction"},
        "FunctionResponseTypes": ["ReportBatchItemFailures"],
        "BatchSize": {"Ref": "ProcessorBatchSize"},
        "MaximumBatchingWindowInSeconds": {"Ref": "ProcessorBatchingWindowSeconds"},
        "ScalingConfig": {"MaximumConcurrency": {"Ref": "ProcessorMaxConcurrency"}},
    }
    for k, v in want.items():
        if e.get(k) != v:
            problems.append(f"event source mapping {k} = {e.get(k)!r}, want {v!r}")
    d = param_defaults(tpl)
    if int(d["ProcessorMaxConcurrency"]) > int(d["ProcessorReservedConcurrency"]) > 0:
        problems.append("default MaximumConcurrency exceeds the processor's reserved concurrency")
    if not 1 <= int(d["ProcessorBatchSize"]) <= 10:
        problems.append("default batch size outside 1..10")
    return problems


def check_table(tpl: dict) -> list[str]:
    problems = []
    t = tpl["Resources"]["EventsTable"]["Properties"]
    if t.get("BillingMode") != "PAY_PER_REQUEST":
        problems.append("table is not PAY_PER_REQUEST")
    if t.get("PointInTimeRecoverySpecification", {}).get("PointInTimeRecoveryEnabled") is not True:
        problems.append("table PITR is off")
    if t.get("SSESpecification", {}).get("SSEEnabled") is not True:
        problems.append("table SSE is off")
    ttl = t.get("TimeToLiveSpecification", {})
    if ttl != {"AttributeName": "expires_at", "Enabled": True}:
        problems.append(f"TTL is {ttl}, want expires_at enabled")
    if t.get("KeySchema") != [{"AttributeName": "event_id", "KeyType": "HASH"}]:
        problems.append(f"table key schema {t.get('KeySchema')}")
    attrs = {a["AttributeName"]: a["AttributeType"] for a in t.get("AttributeDefinitions", [])}
    want_attrs = {"event_id": "S", "source": "S", "received_at": "N", "pending_shard": "S", "pending_since": "N"}
    if attrs != want_attrs:
        problems.append(f"attribute definitions {attrs} != {want_attrs}")
    gsis = {g["IndexName"]: g for g in t.get("GlobalSecondaryIndexes", [])}
    if set(gsis) != {"by_source", "pending"}:
        return problems + [f"GSIs are {sorted(gsis)}, want exactly by_source and pending"]
    bs, pe = gsis["by_source"], gsis["pending"]
    if bs["KeySchema"] != [
        {"AttributeName": "source", "KeyType": "HASH"},
        {"AttributeName": "received_at", "KeyType": "RANGE"},
    ]:
        problems.append(f"by_source key schema {bs['KeySchema']}")
    if bs["Projection"] != {"ProjectionType": "ALL"}:
        problems.append(f"by_source projection {bs['Projection']}")
    if pe["KeySchema"] != [
        {"AttributeName": "pending_shard", "KeyType": "HASH"},
        {"AttributeName": "pending_since", "KeyType": "RANGE"},
    ]:
        problems.append(f"pending key schema {pe['KeySchema']}")
    if pe["Projection"] != {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["generation", "status"]}:
        problems.append(f"pending projection {pe['Projection']}")
    return problems


def check_outputs(tpl: dict) -> list[str]:
    keys = set(tpl.get("Outputs", {}))
    return [] if keys == OUTPUT_KEYS else [f"outputs {sorted(keys)} != {sorted(OUTPUT_KEYS)}"]


CHECKS = {
    "grants": lambda tpl, perms: check_grants(tpl, perms),
    "env": lambda tpl, perms: check_env(sam_translate(tpl), perms),
    "iam_hygiene": lambda tpl, perms: check_iam_hygiene(sam_translate(tpl)),
    "queues": lambda tpl, perms: check_queues(tpl),
    "event_source": lambda tpl, perms: check_event_source(sam_translate(tpl), tpl),
    "table": lambda tpl, perms: check_table(tpl),
    "outputs": lambda tpl, perms: check_outputs(tpl),
}


# ---------------------------------------------------------------------------------------------
# tests: the real template passes every check


def test_grants_match_permissions_json(template, permissions):
    assert check_grants(template, permissions) == []


def test_env_matches_permissions_json(translated, permissions):
    assert check_env(translated, permissions) == []


def test_no_wildcard_actions_and_explicit_resources(translated):
    assert check_iam_hygiene(translated) == []


def test_queues_redrive_retention_visibility(template):
    assert check_queues(template) == []


def test_event_source_mapping(translated, template):
    assert check_event_source(translated, template) == []


def test_table_ttl_and_indexes(template):
    assert check_table(template) == []


def test_outputs_exact_keys(template):
    assert check_outputs(template) == []


# ---------------------------------------------------------------------------------------------
# tests: the checks can fail


def _mutate(tpl: dict, path: list, value) -> dict:
    t = copy.deepcopy(tpl)
    node = t
    for k in path[:-1]:
        node = node[k]
    if value is _DELETE:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return t


_DELETE = object()
_STMTS = ["Resources", "IngestRole", "Properties", "Policies", 0, "PolicyDocument", "Statement"]

MUTATIONS = {
    # an extra action on ingest's table statement
    "extra_action": ("grants", _STMTS + [1, "Action"], ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem"]),
    # a missing action on processor's queue statement
    "missing_action": (
        "grants",
        ["Resources", "ProcessorRole", "Properties", "Policies", 0, "PolicyDocument", "Statement", 2, "Action"],
        ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"],
    ),
    # the right action on the wrong resource (DLQ instead of main queue)
    "wrong_resource": ("grants", _STMTS + [2, "Resource"], {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}),
    # the bucket grant no longer conditional
    "unconditional_bucket": (
        "grants",
        _STMTS + [4],
        {"Sid": "PayloadObjects", "Effect": "Allow", "Action": ["s3:PutObject"], "Resource": {"Fn::Sub": "${PayloadBucket.Arn}/*"}},
    ),
    "wildcard_action": ("iam_hygiene", _STMTS + [1, "Action"], ["dynamodb:*"]),
    "wildcard_resource": ("iam_hygiene", _STMTS + [1, "Resource"], "*"),
    "extra_env": ("env", ["Resources", "ReplayFunction", "Properties", "Environment", "Variables", "HOOKGATE_UNUSED"], "x"),
    "missing_env": ("env", ["Globals", "Function", "Environment", "Variables", "HOOKGATE_SECRETS_ID"], _DELETE),
    "redrive_literal": ("queues", ["Resources", "Queue", "Properties", "RedrivePolicy", "maxReceiveCount"], 5),
    "dlq_retention": ("queues", ["Resources", "DeadLetterQueue", "Properties", "MessageRetentionPeriod"], 345600),
    "redrive_allow_all": ("queues", ["Resources", "DeadLetterQueue", "Properties", "RedriveAllowPolicy", "redrivePermission"], "allowAll"),
    "visibility_too_low": ("queues", ["Mappings", "ProcessorTimeoutToVisibility", "30", "VisibilityTimeout"], 120),
    "no_partial_batch": ("event_source", ["Resources", "ProcessorFunction", "Properties", "Events", "Queue", "Properties", "FunctionResponseTypes"], _DELETE),
    "no_max_concurrency": ("event_source", ["Resources", "ProcessorFunction", "Properties", "Events", "Queue", "Properties", "ScalingConfig"], _DELETE),
    "ttl_attribute": ("table", ["Resources", "EventsTable", "Properties", "TimeToLiveSpecification", "AttributeName"], "ttl"),
    "gsi_renamed": ("table", ["Resources", "EventsTable", "Properties", "GlobalSecondaryIndexes", 1, "IndexName"], "attention"),
    "gsi_sort_key": ("table", ["Resources", "EventsTable", "Properties", "GlobalSecondaryIndexes", 0, "KeySchema", 1, "AttributeName"], "pending_since"),
    "output_renamed": ("outputs", ["Outputs", "DlqUrl"], _DELETE),
}


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_mutation_is_caught(template, permissions, name):
    check, path, value = MUTATIONS[name]
    assert CHECKS[check](template, permissions) == [], "the unmutated template must pass"
    mutated = _mutate(template, path, value)
    assert CHECKS[check](mutated, permissions) != [], f"mutation {name} was not caught by {check}"


def test_permissions_json_is_consistent(permissions):
    """`actions` (what the Rust side checks calls against) == the union of `grants`."""
    for fn in FUNCTIONS:
        p = permissions[fn]
        from_grants = {a for g in p["grants"] for a in g["actions"]}
        from_actions = {f"{svc}:{op}" for svc, ops in p["actions"].items() for op in ops}
        assert from_grants == from_actions, fn
        assert set(p["env_conditions"]) <= set(p["env"]), fn
        for a in from_actions:
            assert re.fullmatch(r"[a-z0-9-]+:[A-Za-z]+", a), a
    assert set(k for k in permissions if not k.startswith("_")) == set(FUNCTIONS)


# ---------------------------------------------------------------------------------------------
# functions, API, schedule


def test_functions_runtime_and_build(translated, template):
    for fn, (func, _role, log_group) in FUNCTIONS.items():
        raw = template["Resources"][func]
        meta = raw["Metadata"]
        assert meta["BuildMethod"] == "rust-cargolambda"
        binary = meta["BuildProperties"]["Binary"]
        assert binary == f"hookgate-{fn}"
        crate = (TEMPLATE.parent / raw["Properties"]["CodeUri"]).resolve()
        cargo = tomllib.loads((crate / "Cargo.toml").read_text())
        assert cargo["package"]["name"] == binary, f"CodeUri {crate} is not package {binary}"
        p = translated["Resources"][func]["Properties"]
        assert p["Runtime"] == "provided.al2023"
        assert p["Architectures"] == ["arm64"]
        assert p["Handler"] == "bootstrap"
        assert p["MemorySize"] == {"Ref": f"{fn.capitalize()}MemorySize"}
        assert p["Timeout"] == {"Ref": f"{fn.capitalize()}Timeout"}
        assert p["LoggingConfig"] == {"LogGroup": {"Ref": log_group}}
        lg = template["Resources"][log_group]
        assert lg["Type"] == "AWS::Logs::LogGroup"
        assert lg["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    proc = translated["Resources"]["ProcessorFunction"]["Properties"]
    assert resolve_conditions(proc["ReservedConcurrentExecutions"], all_conditions(True)) == {"Ref": "ProcessorReservedConcurrency"}


def test_http_api_routes_and_auth(translated, template):
    api = translated["Resources"]["HttpApi"]["Properties"]["Body"]
    paths = api["paths"]
    assert set(paths) == {"/webhooks/{source}", "/health", "/admin/api/{proxy+}"}

    def target(op):
        return op["x-amazon-apigateway-integration"]["uri"]["Fn::Sub"]

    assert "${IngestFunction.Arn}" in target(paths["/webhooks/{source}"]["post"])
    assert "${IngestFunction.Arn}" in target(paths["/health"]["get"])
    admin = paths["/admin/api/{proxy+}"]["x-amazon-apigateway-any-method"]
    assert "${ReplayFunction.Arn}" in target(admin)
    assert admin["security"] == [{"AWS_IAM": []}]
    for p in ("/webhooks/{source}", "/health"):
        for op in paths[p].values():
            assert not op.get("security"), f"{p} must not require IAM auth"
    stage = translated["Resources"]["HttpApiApiGatewayDefaultStage"]["Properties"]
    assert stage["DefaultRouteSettings"] == {
        "ThrottlingBurstLimit": {"Ref": "ApiThrottlingBurstLimit"},
        "ThrottlingRateLimit": {"Ref": "ApiThrottlingRateLimit"},
    }
    assert stage["AccessLogSettings"]["DestinationArn"] == {"Fn::GetAtt": ["ApiAccessLogGroup", "Arn"]}
    json.loads(stage["AccessLogSettings"]["Format"])
    assert template["Resources"]["ApiAccessLogGroup"]["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}


def test_sweep_schedule(translated):
    rules = [r["Properties"] for r in translated["Resources"].values() if r["Type"] == "AWS::Events::Rule"]
    assert len(rules) == 1
    (rule,) = rules
    assert rule["ScheduleExpression"] == {"Fn::Sub": "rate(${SweepIntervalMinutes} minutes)"}
    (t,) = rule["Targets"]
    assert t["Arn"] == {"Fn::GetAtt": ["ReplayFunction", "Arn"]}
    assert json.loads(t["Input"]) == {"command": "sweep"}


def test_payload_bucket(template):
    res = template["Resources"]
    b = res["PayloadBucket"]
    assert b["Condition"] == "HasPayloadBucket"
    p = b["Properties"]
    assert all(p["PublicAccessBlockConfiguration"][k] is True for k in (
        "BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"))
    assert p["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("AES256", "aws:kms")
    (rule,) = p["LifecycleConfiguration"]["Rules"]
    assert rule["ExpirationInDays"] == {"Ref": "RetentionDays"}
    pol = res["PayloadBucketPolicy"]
    assert pol["Condition"] == "HasPayloadBucket"
    (st,) = pol["Properties"]["PolicyDocument"]["Statement"]
    assert st["Effect"] == "Deny"
    assert st["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


# ---------------------------------------------------------------------------------------------
# config and secret contract


def render_default_config(template: dict, secret_id: str) -> str:
    """HOOKGATE_CONFIG as the stack renders it with the parameter defaults."""
    env = template["Globals"]["Function"]["Environment"]["Variables"]["HOOKGATE_CONFIG"]
    text, extra = resolve_conditions(env, all_conditions(False))["Fn::Sub"]
    values = param_defaults(template)
    values["SourceSecrets"] = secret_id
    values["VisibilityTimeout"] = str(visibility_for(template, values["ProcessorTimeout"]))
    assert extra["VisibilityTimeout"]["Fn::FindInMap"][0] == "ProcessorTimeoutToVisibility"

    def sub(m):
        name = m.group(1)
        assert name in values, f"unknown ${{{name}}} in the embedded config"
        return values[name]

    return re.sub(r"\$\{([A-Za-z0-9:.]+)\}", sub, text)


def test_embedded_config_matches_bundled_file(template):
    rendered = render_default_config(template, "${HOOKGATE_SECRETS_ID}")
    assert tomllib.loads(rendered) == tomllib.loads(BUNDLED_CONFIG.read_text())


def test_config_fits_lambda_environment(template):
    arn = "arn:aws:secretsmanager:ap-southeast-2:123456789012:secret:a-rather-long-stack-name/source-secrets-AbCdEf"
    rendered = render_default_config(template, arn)
    assert "${" not in rendered
    # Lambda allows 4 KB for all variables together; leave room for the others.
    assert len(rendered.encode()) < 3000


def test_config_follows_parameters(template):
    cfg = tomllib.loads(render_default_config(template, "S"))
    d = param_defaults(template)
    assert cfg["queue"]["max_receive_count"] == int(d["QueueMaxReceiveCount"])
    assert cfg["queue"]["batch_size"] == int(d["ProcessorBatchSize"])
    assert cfg["queue"]["visibility_timeout"] == f"{visibility_for(template, d['ProcessorTimeout'])}s"
    assert cfg["ingest"]["retention"] == f"{d['RetentionDays']}d"


def test_bundled_config_secret_contract(template):
    cfg = tomllib.loads(BUNDLED_CONFIG.read_text())
    names = [s["name"] for s in cfg["sources"]]
    assert sorted(names) == ["github", "standard-webhooks", "stripe"]
    for s in cfg["sources"]:
        assert s["secrets"] == [f"secretsmanager:${{HOOKGATE_SECRETS_ID}}#{s['name']}"]
    routed = {r["source"] for r in cfg["routes"]}
    assert routed == set(names)
    assert all(r["handlers"] == ["log"] and r["events"] == ["*"] for r in cfg["routes"])
    assert cfg["handlers"]["log"]["kind"] == "log"
    # the secret holds one JSON key per source
    gen = template["Resources"]["SourceSecrets"]["Properties"]["GenerateSecretString"]
    keys = set(json.loads(gen["SecretStringTemplate"])) | {gen["GenerateStringKey"]}
    assert keys == set(names)


# ---------------------------------------------------------------------------------------------
# alarms and dashboard


def test_alarms(template):
    res = template["Resources"]
    alarms = {lid: r["Properties"] for lid, r in res.items() if r["Type"] == "AWS::CloudWatch::Alarm"}

    def metric(a):
        dims = {d["Name"]: d["Value"] for d in a.get("Dimensions", [])}
        return a["Namespace"], a["MetricName"], _canon(dims)

    got = {metric(a) for a in alarms.values()}
    want = {
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible", _canon({"QueueName": {"Fn::GetAtt": ["DeadLetterQueue", "QueueName"]}})),
        ("AWS/SQS", "ApproximateAgeOfOldestMessage", _canon({"QueueName": {"Fn::GetAtt": ["Queue", "QueueName"]}})),
        ("AWS/ApiGateway", "5xx", _canon({"ApiId": {"Ref": "HttpApi"}})),
        ("AWS/Lambda", "Errors", _canon({"FunctionName": {"Ref": "ProcessorFunction"}})),
    } | {
        ("AWS/Lambda", "Throttles", _canon({"FunctionName": {"Ref": f}})) for f, _r, _l in FUNCTIONS.values()
    }
    assert want <= got, want - got
    dlq = next(a for a in alarms.values() if a["MetricName"] == "ApproximateNumberOfMessagesVisible")
    assert dlq["Threshold"] == 0 and dlq["ComparisonOperator"] == "GreaterThanThreshold"
    for lid, a in alarms.items():
        assert a["AlarmActions"] == {"Fn::If": ["HasAlarmEmail", [{"Ref": "AlarmTopic"}], {"Ref": "AWS::NoValue"}]}, lid
    topic = res["AlarmTopic"]
    assert topic["Condition"] == "HasAlarmEmail"
    assert topic["Properties"]["Subscription"] == [{"Protocol": "email", "Endpoint": {"Ref": "AlarmEmail"}}]


def test_dashboard_is_valid_json_with_all_metrics(template):
    body = template["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    refs = set(re.findall(r"\$\{([A-Za-z0-9:.]+)\}", body))
    resources = set(template["Resources"])
    for r in refs:
        base = r.split(".")[0]
        assert r.startswith("AWS::") or base in resources, f"dashboard references unknown ${{{r}}}"
    dash = json.loads(re.sub(r"\$\{[A-Za-z0-9:.]+\}", "x", body))
    text = json.dumps(dash)
    for m in EMF_METRICS:
        assert f'MetricName=\\"{m}\\"' in text, m
    assert "{Hookgate,source,reason}" in text and "{Hookgate,source,outcome}" in text
    for needle in ('"5xx"', '"4xx"', '"Latency"', "ApproximateAgeOfOldestMessage", "ConcurrentExecutions", '"Duration"', '"Errors"'):
        assert needle in text, needle


def test_samconfig_defaults():
    cfg = tomllib.loads((ROOT / "infra" / "samconfig.toml").read_text())
    deploy = cfg["default"]["deploy"]["parameters"]
    assert cfg["default"]["global"]["parameters"]["stack_name"] == "hookgate"
    assert deploy["capabilities"] == "CAPABILITY_IAM"
    assert deploy["confirm_changeset"] is True
    assert deploy["resolve_s3"] is True
    assert "region" not in deploy and "region" not in cfg["default"]["global"]["parameters"]
