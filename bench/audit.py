"""Who made which API request: a local cluster whose API server writes an audit log, and a summary of it.

``apiserver_request_total`` counts requests by verb and resource but not by client. For diagnosis
(``python -m bench ... --audit``), the API server also logs every request's user agent, verb and
resource at audit level ``Metadata`` (no bodies), and :func:`summarise` counts them per client. The
audit backend costs the API server CPU, so timings from an audited run are not reported.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from testbed.cluster import LocalCluster

POLICY = """apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: Metadata
"""
# (client, verb, resource[/subresource])
AuditKey = tuple[str, str, str]


class AuditedCluster(LocalCluster):
    """A LocalCluster whose kube-apiserver logs request metadata to ``workdir/audit.log``."""

    @property
    def audit_log(self) -> Path:
        return self.workdir / "audit.log"

    def _spawn(self, name: str, args: list[str]) -> None:
        if name == "kube-apiserver":
            policy = self.workdir / "audit-policy.yaml"
            policy.write_text(POLICY)
            args = [
                *args,
                f"--audit-policy-file={policy}",
                f"--audit-log-path={self.audit_log}",
                "--audit-log-maxsize=0",
                "--audit-log-mode=batch",
            ]
        super()._spawn(name, args)


def client_name(user_agent: str) -> str:
    """The program part of a user agent: ``kube-controller-manager/v1.36.4 (linux/amd64) ...`` ->
    ``kube-controller-manager``; the operator's own client says ``modelfleet``; kopf says ``kopf/1.45``.

    >>> client_name("kube-controller-manager/v1.36.4 (linux/amd64) kubernetes/abc/generic-garbage-collector")
    'kube-controller-manager/generic-garbage-collector'
    >>> client_name("kopf/1.45.2")
    'kopf'
    """
    program = user_agent.split("/", 1)[0].split(" ", 1)[0] or "unknown"
    if program == "kube-controller-manager" and user_agent.count("/") >= 4:
        return f"{program}/{user_agent.rsplit('/', 1)[1]}"
    return program


def summarise(log: Path, since_line: int = 0) -> tuple[Counter[AuditKey], int]:
    """Requests per (client, verb, resource) in the audit log from line ``since_line``; and the line count."""
    counts: Counter[AuditKey] = Counter()
    lines = 0
    if not log.exists():
        return counts, 0
    with log.open() as handle:
        for lines, line in enumerate(handle, start=1):
            if lines <= since_line:
                continue
            event = json.loads(line)
            ref = event.get("objectRef") or {}
            resource = ref.get("resource", event.get("requestURI", "?").split("?")[0])
            if ref.get("subresource"):
                resource += "/" + ref["subresource"]
            counts[(client_name(event.get("userAgent", "")), event.get("verb", ""), resource)] += 1
    return counts, lines
