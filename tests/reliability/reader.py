"""Raw JSON reads from the local API server through the kubernetes client: cheap enough to sample
twice a second (a kubectl process per read is not), and bounded in time so a frozen etcd makes a
read fail instead of hanging the test."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from kubernetes import config as kube_config
from kubernetes.client import ApiClient, Configuration

from testbed.cluster import LocalCluster

MD_PATH = "/apis/modelfleet.io/v1alpha1/namespaces/{namespace}/modeldeployments"
OURS = "app.kubernetes.io/managed-by=modelfleet"


class Unavailable(RuntimeError):
    """The API server did not answer (restarting, or its etcd is paused)."""


class Reader:
    def __init__(self, cluster: LocalCluster, timeout_seconds: float = 5) -> None:
        configuration = Configuration()
        kube_config.load_kube_config(config_file=str(cluster.kubeconfig), client_configuration=configuration)
        configuration.retries = 0  # a refused connection is an answer (the API server is down), not a retry
        self._client = ApiClient(configuration)
        self._timeout_seconds = timeout_seconds

    def get(self, path: str) -> dict[str, Any] | None:
        """The object or list at `path`; None on 404; :class:`Unavailable` when the server is down."""
        config = self._client.configuration
        try:
            response = self._client.call_api(
                "GET",
                config.host + path,
                header_params={"Accept": "application/json"},
                _request_timeout=self._timeout_seconds,
            )
        except Exception as error:  # connection refused, read timeout, 5xx raised as ApiException
            status = getattr(error, "status", None)
            if status == 404:
                return None
            raise Unavailable(f"GET {path}: {error!r}"[:300]) from error
        body = response.read()
        if response.status == 404:
            return None
        if response.status != 200:
            raise Unavailable(f"GET {path}: HTTP {response.status}: {body[:200]!r}")
        return dict(json.loads(body))

    def items(self, path: str, selector: str | None = None) -> list[dict[str, Any]]:
        if selector:
            path += f"?labelSelector={quote(selector)}"
        return list((self.get(path) or {}).get("items", []))

    def md(self, namespace: str, name: str) -> dict[str, Any]:
        return self.get(f"{MD_PATH.format(namespace=namespace)}/{name}") or {}

    def mds(self, namespace: str) -> list[dict[str, Any]]:
        return self.items(MD_PATH.format(namespace=namespace))

    def deployments(self, namespace: str, md_name: str | None = None) -> list[dict[str, Any]]:
        selector = OURS + (f",modelfleet.io/name={md_name}" if md_name else "")
        return self.items(f"/apis/apps/v1/namespaces/{namespace}/deployments", selector)

    def services(self, namespace: str) -> list[dict[str, Any]]:
        return self.items(f"/api/v1/namespaces/{namespace}/services", OURS)

    def routes(self, namespace: str) -> list[dict[str, Any]]:
        return self.items(f"/apis/gateway.networking.k8s.io/v1/namespaces/{namespace}/httproutes")

    def events(self, namespace: str) -> list[dict[str, Any]]:
        return self.items(f"/api/v1/namespaces/{namespace}/events")
