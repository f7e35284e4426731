"""A small, thread-safe Kubernetes REST client for the few verbs the reconciler writes with.

Watching and caching are kopf's job; this client only applies (server-side apply with our field
manager), patches status, deletes and reads single objects. Authentication and TLS come from the
`kubernetes` package's config loaders (kubeconfig or in-cluster service account), so every auth
method they support works here too.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import orjson
import urllib3
from kubernetes import config as kube_config
from kubernetes.client import Configuration

from modelfleet.render.templating import json_for_yaml

FIELD_MANAGER = "modelfleet"
APPLY_PATCH = "application/apply-patch+yaml"


def apply_patch_body(obj: Any) -> bytes:
    """`obj` as JSON the API server's YAML decoder reads back unchanged (server-side apply is YAML).

    >>> apply_patch_body({"args": ["--chat-template=\U0001f600", "\x7f"]})
    b'{"args": ["--chat-template=\\xf0\\x9f\\x98\\x80", "\\\\u007f"]}'
    """
    return json_for_yaml(obj).encode()


class ApiError(Exception):
    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class Resource:
    """Where a kind lives in the REST API."""

    group: str
    version: str
    plural: str
    namespaced: bool = True

    def path(self, namespace: str | None = None, name: str | None = None, sub: str | None = None) -> str:
        base = f"/api/{self.version}" if not self.group else f"/apis/{self.group}/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{quote(namespace)}"
        base += f"/{self.plural}"
        if name:
            base += f"/{quote(name)}"
        if sub:
            base += f"/{sub}"
        return base


KINDS: dict[tuple[str, str], Resource] = {
    ("apps/v1", "Deployment"): Resource("apps", "v1", "deployments"),
    ("v1", "Service"): Resource("", "v1", "services"),
    ("v1", "Pod"): Resource("", "v1", "pods"),
    ("v1", "Node"): Resource("", "v1", "nodes", namespaced=False),
    ("v1", "Event"): Resource("", "v1", "events"),
    ("v1", "Secret"): Resource("", "v1", "secrets"),  # read by name only: a model's Hub token
    ("coordination.k8s.io/v1", "Lease"): Resource("coordination.k8s.io", "v1", "leases"),
    ("batch/v1", "Job"): Resource("batch", "v1", "jobs"),
    ("v1", "PersistentVolumeClaim"): Resource("", "v1", "persistentvolumeclaims"),
    ("v1", "ServiceAccount"): Resource("", "v1", "serviceaccounts"),
    ("rbac.authorization.k8s.io/v1", "Role"): Resource("rbac.authorization.k8s.io", "v1", "roles"),
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): Resource(
        "rbac.authorization.k8s.io", "v1", "rolebindings"
    ),
    ("policy/v1", "PodDisruptionBudget"): Resource("policy", "v1", "poddisruptionbudgets"),
    ("gateway.networking.k8s.io/v1", "HTTPRoute"): Resource("gateway.networking.k8s.io", "v1", "httproutes"),
    ("keda.sh/v1alpha1", "ScaledObject"): Resource("keda.sh", "v1alpha1", "scaledobjects"),
    ("autoscaling/v2", "HorizontalPodAutoscaler"): Resource("autoscaling", "v2", "horizontalpodautoscalers"),
    ("leaderworkerset.x-k8s.io/v1", "LeaderWorkerSet"): Resource(
        "leaderworkerset.x-k8s.io", "v1", "leaderworkersets"
    ),
    ("modelfleet.io/v1alpha1", "ModelDeployment"): Resource("modelfleet.io", "v1alpha1", "modeldeployments"),
    ("apiextensions.k8s.io/v1", "CustomResourceDefinition"): Resource(
        "apiextensions.k8s.io", "v1", "customresourcedefinitions", namespaced=False
    ),
}


def resource_for(api_version: str, kind: str) -> Resource:
    try:
        return KINDS[(api_version, kind)]
    except KeyError:
        raise ValueError(f"the reconciler does not manage {api_version}/{kind}") from None


WriteGuard = Callable[[str], None]  # raises to stop a write; see modelfleet.reconcile.leader.Fence


class Kube:
    """Blocking client; safe to share between the operator's worker threads.

    `guard`, when given, is asked just before every request that is not a GET, and stops the write by
    raising (the leader election's fence: no write leaves a process that may have lost the Lease).
    `user_agent` names the process to the API server (its audit log); the part before the first "/"
    is also the field manager of the status patches, so it stays "modelfleet".
    """

    def __init__(
        self,
        configuration: Configuration,
        pool_size: int = 16,
        timeout_seconds: float = 30,
        *,
        guard: WriteGuard | None = None,
        user_agent: str = FIELD_MANAGER,
    ) -> None:
        self._cfg = configuration
        self._lock = threading.Lock()
        self.server = configuration.host.rstrip("/")
        self.guard = guard
        self.user_agent = user_agent
        self._timeout = urllib3.Timeout(connect=min(5.0, timeout_seconds), read=timeout_seconds)
        self._http = urllib3.PoolManager(
            num_pools=4,
            maxsize=pool_size,
            block=False,
            cert_reqs="CERT_REQUIRED" if configuration.verify_ssl else "CERT_NONE",
            ca_certs=configuration.ssl_ca_cert,
            cert_file=configuration.cert_file,
            key_file=configuration.key_file,
        )

    @classmethod
    def from_environment(cls, kubeconfig: str | None = None, **options: Any) -> Kube:
        """In-cluster service account when running in a pod, else the kubeconfig ($KUBECONFIG or
        ~/.kube/config); `options` as for the constructor."""
        cfg = Configuration()
        try:
            kube_config.load_incluster_config(client_configuration=cfg)
        except kube_config.ConfigException:
            kube_config.load_kube_config(config_file=kubeconfig, client_configuration=cfg)
        return cls(cfg, **options)

    # ---- transport ---------------------------------------------------------------------------------
    def _headers(self, content_type: str | None) -> dict[str, str]:
        headers = {"Accept": "application/json", "User-Agent": self.user_agent}
        if content_type:
            headers["Content-Type"] = content_type
        with self._lock:
            if self._cfg.refresh_api_key_hook is not None:
                self._cfg.refresh_api_key_hook(self._cfg)  # rotates projected service-account tokens
            token = self._cfg.get_api_key_with_prefix("authorization") or self._cfg.get_api_key_with_prefix(
                "BearerToken"
            )
        if token:
            headers["Authorization"] = token if token.lower().startswith("bearer ") else f"Bearer {token}"
        return headers

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        content_type: str | None = None,
        query: dict[str, str] | None = None,
        decode: bool = True,
    ) -> Any:
        """The answer's JSON (None when empty, or when `decode` is False: a write whose answer nobody
        reads, as the reconciler's are, is not decoded: a Deployment's answer with its managedFields
        costs more to decode than the request did to send)."""
        url = self.server + path + (f"?{urlencode(query)}" if query else "")
        if body is None:
            data = None
        else:
            data = apply_patch_body(body) if content_type == APPLY_PATCH else json.dumps(body).encode()
        if data is not None and content_type is None:
            content_type = "application/json"
        if self.guard is not None and method != "GET":
            self.guard(f"{method} {path}")  # as late as possible: the last moment the Lease is checked
        resp = self._http.request(
            method, url, body=data, headers=self._headers(content_type), timeout=self._timeout, retries=False
        )
        payload = resp.data
        if resp.status >= 400:
            try:
                status = json.loads(payload)
                raise ApiError(resp.status, status.get("reason", ""), status.get("message", payload.decode()))
            except ValueError:
                raise ApiError(resp.status, "", payload.decode(errors="replace")[:500]) from None
        return orjson.loads(payload) if payload and decode else None

    def stream(
        self, path: str, query: dict[str, str], read_timeout_seconds: float
    ) -> urllib3.BaseHTTPResponse:
        """A GET whose body is read as it comes (a watch); the caller releases the connection."""
        url = self.server + path + f"?{urlencode(query)}"
        timeout = urllib3.Timeout(connect=self._timeout.connect_timeout, read=read_timeout_seconds)
        resp = self._http.request(
            "GET", url, headers=self._headers(None), timeout=timeout, retries=False, preload_content=False
        )
        if resp.status >= 400:
            payload = resp.read()
            resp.release_conn()
            try:
                status = json.loads(payload)
            except ValueError:
                raise ApiError(resp.status, "", payload.decode(errors="replace")[:500]) from None
            raise ApiError(resp.status, status.get("reason", ""), status.get("message", ""))
        return resp

    # ---- verbs ---------------------------------------------------------------------------------------
    def apply(self, obj: dict[str, Any], force: bool = True) -> None:
        """Server-side apply `obj` as field manager `modelfleet` (creates or updates)."""
        res = resource_for(obj["apiVersion"], obj["kind"])
        meta = obj["metadata"]
        self.request(
            "PATCH",
            res.path(meta.get("namespace"), meta["name"]),
            obj,
            content_type=APPLY_PATCH,
            query={"fieldManager": FIELD_MANAGER, "force": "true" if force else "false"},
            decode=False,
        )

    def get(self, api_version: str, kind: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        try:
            return dict(self.request("GET", resource_for(api_version, kind).path(namespace, name)))
        except ApiError as e:
            if e.status == 404:
                return None
            raise

    def list(
        self, api_version: str, kind: str, namespace: str | None = None, label_selector: str | None = None
    ) -> list[dict[str, Any]]:
        query = {"labelSelector": label_selector} if label_selector else None
        return list(
            self.request("GET", resource_for(api_version, kind).path(namespace), query=query)["items"]
        )

    def delete(
        self,
        api_version: str,
        kind: str,
        namespace: str | None,
        name: str,
        uid: str | None = None,
        resource_version: str | None = None,
    ) -> bool:
        """Delete with background propagation; a 404 is success. `uid` guards against deleting a newer
        namesake, `resource_version` against deleting what changed since it was read (False: it did)."""
        body: dict[str, Any] = {"propagationPolicy": "Background"}
        preconditions = {"uid": uid, "resourceVersion": resource_version}
        if uid or resource_version:
            body["preconditions"] = {k: v for k, v in preconditions.items() if v}
        try:
            self.request("DELETE", resource_for(api_version, kind).path(namespace, name), body)
            return True
        except ApiError as e:
            if e.status in (404, 409):
                return False
            raise

    def patch_status(
        self,
        api_version: str,
        kind: str,
        namespace: str,
        name: str,
        status: dict[str, Any],
        resource_version: str | None = None,
    ) -> None:
        """Replace `.status` through the status subresource with a JSON merge patch."""
        body: dict[str, Any] = {"status": status}
        if resource_version:
            body["metadata"] = {"resourceVersion": resource_version}
        self.request(
            "PATCH",
            resource_for(api_version, kind).path(namespace, name, "status"),
            body,
            content_type="application/merge-patch+json",
            decode=False,
        )

    def patch(
        self, api_version: str, kind: str, namespace: str | None, name: str, patch: dict[str, Any]
    ) -> None:
        self.request(
            "PATCH",
            resource_for(api_version, kind).path(namespace, name),
            patch,
            content_type="application/merge-patch+json",
            decode=False,
        )

    def replace(self, obj: dict[str, Any]) -> dict[str, Any]:
        """PUT the whole object; with `metadata.resourceVersion` set, a 409 when it changed meanwhile."""
        res = resource_for(obj["apiVersion"], obj["kind"])
        meta = obj["metadata"]
        return dict(self.request("PUT", res.path(meta.get("namespace"), meta["name"]), obj))

    def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        """POST `obj`; the object as created (its generated name, uid and generation)."""
        res = resource_for(obj["apiVersion"], obj["kind"])
        return dict(self.request("POST", res.path(obj["metadata"].get("namespace")), obj))
