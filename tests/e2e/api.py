"""Raw JSON reads of the local cluster for the e2e tests (a kubectl process per sample would cost a core)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from kubernetes import config as kube_config

from testbed.cluster import LocalCluster
from testbed.wait import wait_for


class Api:
    """Raw JSON reads through the kubernetes client (cheaper than a kubectl process per sample)."""

    def __init__(self, cluster: LocalCluster) -> None:
        self._client = kube_config.new_client_from_config(config_file=str(cluster.kubeconfig))

    def get(self, path: str) -> dict[str, Any] | None:
        """The object or list at `path` as JSON; None on 404."""
        config = self._client.configuration
        headers = {"Accept": "application/json"}
        token = (config.api_key or {}).get("authorization")
        if token:
            headers["Authorization"] = token
        response = self._client.call_api("GET", config.host + path, header_params=headers, _request_timeout=5)
        body = response.read()
        if response.status == 404:
            return None
        if response.status != 200:
            raise RuntimeError(f"GET {path}: HTTP {response.status}: {body[:300]!r}")
        return dict(json.loads(body))

    def md(self, namespace: str, name: str) -> dict[str, Any]:
        return self.get(f"/apis/modelfleet.io/v1alpha1/namespaces/{namespace}/modeldeployments/{name}") or {}

    def status(self, namespace: str, name: str) -> dict[str, Any]:
        return dict(self.md(namespace, name).get("status") or {})

    def deployments(self, namespace: str, name: str) -> dict[str, dict[str, Any]]:
        """The revision Deployments of a ModelDeployment, by revision."""
        got = self.get(
            f"/apis/apps/v1/namespaces/{namespace}/deployments?labelSelector={quote('modelfleet.io/name=' + name)}"
        )
        return {d["metadata"]["labels"]["modelfleet.io/revision"]: d for d in (got or {}).get("items", [])}

    def wait_deployments(
        self,
        namespace: str,
        name: str,
        check: Callable[[dict[str, dict[str, Any]]], Any],
        timeout: float = 30,
    ) -> dict[str, dict[str, Any]]:
        def matched() -> dict[str, dict[str, Any]] | None:
            got = self.deployments(namespace, name)
            return got if check(got) else None

        return dict(wait_for(matched, f"{namespace}/{name}: deployments", timeout=timeout, interval=0.25))

    def route_weights(self, namespace: str, name: str) -> dict[str, int] | None:
        """Backend Service -> weight of the owned HTTPRoute, as the API server stores it."""
        route = self.get(f"/apis/gateway.networking.k8s.io/v1/namespaces/{namespace}/httproutes/{name}")
        if route is None:
            return None
        return {
            ref["name"]: int(ref.get("weight", 1))
            for rule in route["spec"].get("rules", [])
            for ref in rule.get("backendRefs", [])
        }
