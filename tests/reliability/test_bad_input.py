"""Generated ModelDeployments sent to the real API server with ``kubectl apply --server-side``.

What the schema or its CEL rules refuse is refused with a message naming the field; what it accepts
never crashes the operator (process alive, no traceback logged above WARNING) and always ends with
a status condition for its generation."""

from __future__ import annotations

import itertools
import json
import re
import time
from collections import Counter
from typing import Any

import pytest
from hypothesis import HealthCheck, given, seed, settings

from testbed.wait import wait_for
from tests.reliability.conftest import SEED, Rig, soak_or_ci
from tests.reliability.reader import Unavailable
from tests.reliability.specs import ACCEPT, REJECT, Case, cases

pytestmark = pytest.mark.cluster
NS = "rel-input"
RECORD = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ (?P<level>[A-Z]+) (?P<logger>\S+): ", re.MULTILINE)


def error_tracebacks(log: str) -> list[str]:
    """The records of a log that carry a traceback at ERROR or above (a WARNING with one is allowed).

    >>> error_tracebacks("2026-01-01 00:00:00,1 WARNING a: x\\nTraceback (most recent call last):\\n")
    []
    >>> error_tracebacks("2026-01-01 00:00:00,1 ERROR a: boom\\nTraceback (most recent call last):\\n")
    ['2026-01-01 00:00:00,1 ERROR a: boom']
    """
    found = []
    records = list(RECORD.finditer(log))
    for record, following in itertools.zip_longest(records, records[1:]):
        body = log[record.start() : following.start() if following else len(log)]
        if "Traceback (most recent call last)" in body and record["level"] not in (
            "DEBUG",
            "INFO",
            "WARNING",
        ):
            found.append(body.splitlines()[0])
    return found


def judged(rig: Rig, name: str) -> dict[str, Any] | None:
    """The status once the operator judged this generation with at least one condition, else None."""
    try:
        md = rig.reader.md(NS, name)
    except Unavailable:
        return None
    status = md.get("status") or {}
    if status.get("conditions") and status.get("observedGeneration") == md["metadata"]["generation"]:
        return dict(status)
    return None


def verdict(status: dict[str, Any]) -> str:
    """How the operator answered: the reason of its first condition that is not fine, else the phase."""
    for c in status.get("conditions") or []:
        bad = c["status"] == "True" if c["type"] == "Degraded" else c["status"] == "False"
        if bad and c["type"] != "Ready":
            refused = "the API server refused" in c.get("message", "")
            return f"{c['type']}={c['reason']}{' (child refused)' if refused else ''}"
    return str(status.get("phase"))


def test_generated_model_deployments_are_refused_by_name_or_answered_with_a_condition(rig: Rig) -> None:
    log_offset = len(rig.operator.log())
    counter = itertools.count()
    tried: Counter[str] = Counter()
    accepted: dict[str, Case] = {}
    wrongly_accepted: list[str] = []

    @seed(SEED)
    @settings(
        max_examples=soak_or_ci(400, 60),
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    @given(cases)
    def send(case: Case) -> None:
        name = f"in-{next(counter):04d}"
        body = {
            "apiVersion": "modelfleet.io/v1alpha1",
            "kind": "ModelDeployment",
            "metadata": {"name": name, "namespace": NS},
            "spec": case.spec,
        }
        out = rig.cluster.kubectl(
            "apply", "--server-side", "--field-manager=fuzz", "-f", "-", input=json.dumps(body), check=False
        )
        tried[f"{case.expect}/{'refused' if out.returncode else 'stored'}"] += 1
        if out.returncode == 0:
            if case.expect == REJECT:
                # Not an assertion inside hypothesis: a finding is reported with every other one.
                wrongly_accepted.append(f"{case.what}: stored")
            accepted[name] = case
            return
        assert "failed to create typed patch" in out.stderr or "is invalid" in out.stderr, out.stderr
        assert case.expect != ACCEPT, f"{case.what}: refused: {out.stderr}"
        for text in case.names:
            assert text in out.stderr, f"{case.what}: the refusal does not name {text!r}: {out.stderr}"

    began = time.monotonic()
    try:
        send()
        print(
            f"\n[reliability] inputs tried: {sum(tried.values())} ({dict(tried)}) in "
            f"{time.monotonic() - began:.0f}s"
        )
        assert not wrongly_accepted, wrongly_accepted
        deadline = time.monotonic() + 90
        pending = dict(accepted)
        while pending and time.monotonic() < deadline:
            pending = {name: case for name, case in pending.items() if judged(rig, name) is None}
            time.sleep(1)
        assert not pending, [f"{name}: {case.what}" for name, case in pending.items()][:20]
        verdicts = Counter(verdict(judged(rig, name) or {}) for name in accepted)
        print(f"[reliability] {len(accepted)} stored, each answered with conditions: {dict(verdicts)}")
        assert rig.operator.proc is not None and rig.operator.proc.poll() is None, "the operator died"
        log = rig.operator.log()[log_offset:]
        assert not error_tracebacks(log), "\n".join(error_tracebacks(log)[:10])
    finally:
        rig.cluster.kubectl(
            "delete", "md", "--all", "-n", NS, "--wait=true", "--timeout=120s", check=False, timeout=150
        )


UNICODE_ARGS = {
    "control": ["--note=del \x7f c1 \x85 \x9f", "--bom=\ufeff", "--tab=a\tb"],
    "emoji": ["--chat-template=\U0001f600 {{ messages }} \U0001d11e"],
}


@pytest.mark.parametrize(
    "kind",
    [
        "control",
        "emoji",
    ],
)
def test_unusual_characters_in_a_spec_reach_the_engine_verbatim(rig: Rig, kind: str) -> None:
    """Sent as JSON (kubectl create), which can carry what YAML cannot; the operator's own
    server-side apply of the Deployment must still carry every character unchanged."""
    name, args = f"chars-{kind}", UNICODE_ARGS[kind]
    body = {
        "apiVersion": "modelfleet.io/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "model": {"id": "mistralai/Mistral-7B-Instruct-v0.3"},
            "replicas": 0,
            "engine": {"args": args},
            "serving": {"maxModelLen": 4096},
        },
    }
    rig.cluster.kubectl("create", "-f", "-", input=json.dumps(body))
    try:

        def deployment() -> dict[str, Any] | None:
            found = rig.reader.deployments(NS, name)
            return found[0] if found else None

        def container() -> dict[str, Any]:
            return dict(rig.reader.deployments(NS, name)[0]["spec"]["template"]["spec"]["containers"][0])

        def judged_or_deployed() -> bool:
            return bool(deployment()) or bool(judged(rig, name))

        wait_for(judged_or_deployed, f"{name}: a Deployment or a status", timeout=60)
        assert deployment(), f"no Deployment; status: {rig.reader.md(NS, name).get('status')}"
        assert container()["command"][-len(args) :] == args
    finally:
        rig.cluster.kubectl("delete", "md", name, "-n", NS, "--wait=true", check=False)
