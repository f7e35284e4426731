"""The operator's configuration: a YAML file (the Helm chart renders it into a ConfigMap) plus flags.

Example (every key optional)::

    namespaces: [llm]                 # empty: watch every namespace
    metrics: {address: 0.0.0.0, port: 8080}
    resyncSeconds: 300                # level-based re-check of every ModelDeployment without any event
    workers: 8
    watch: {serverTimeoutSeconds: 300, clientTimeoutSeconds: 330}
    prometheus: {url: http://prometheus.monitoring:9090, timeoutSeconds: 5}
    events: {qps: 10, burst: 100}     # Kubernetes Events: a burst at once, then qps per second
    engineImages: {vllm: vllm/vllm-openai:v0.33.1}
    licensePolicy: {refused: [minimax-m2.7], requireAcceptance: [modified-mit]}
    leaderElection: {enabled: true, leaseName: modelfleet, leaseNamespace: modelfleet-system,
                     leaseDurationSeconds: 15, renewDeadlineSeconds: 10, retryPeriodSeconds: 2}
    cache: {mode: shared, storageClassName: nfs-rwx, retain: 1}   # weight caches, docs/weights.md
    modelDiscovery: {enabled: true, endpoint: https://hf-mirror.example, timeoutSeconds: 10,
                     retryMinSeconds: 10, retryMaxSeconds: 600}
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel


class _Config(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True)


class MetricsConfig(_Config):
    address: str = Field("127.0.0.1", description="Bind address of the /metrics endpoint.")
    port: int = Field(8080, ge=0, le=65535, description="0 disables the metrics endpoint.")


class WatchConfig(_Config):
    server_timeout_seconds: int = Field(300, ge=1)
    client_timeout_seconds: int = Field(330, ge=1)


class PrometheusConfig(_Config):
    url: str | None = Field(None, description="Base URL of the Prometheus HTTP API used by canary analysis.")
    timeout_seconds: float = Field(5.0, gt=0)


class EventsConfig(_Config):
    qps: float = Field(10.0, ge=0, description="Events posted per second after a burst (0: no limit).")
    burst: int = Field(100, ge=1, description="Events posted at once before the rate applies.")


class LicensePolicyConfig(_Config):
    allowed: list[str] = Field(default_factory=list)
    require_acceptance: list[str] | None = None  # None: the built-in default list
    refused: list[str] | None = None  # None: the built-in default list
    allow_unknown: bool | None = None


class LeaderElectionConfig(_Config):
    """A Lease (coordination.k8s.io/v1) decides which of several operator processes reconciles;
    see :mod:`modelfleet.reconcile.leader`. Off: this process reconciles alone (one replica)."""

    enabled: bool = Field(False, description="Run for the Lease; off: reconcile at once, alone.")
    lease_name: str = Field("modelfleet", min_length=1)
    lease_namespace: str | None = Field(
        None, description="None: the pod's namespace ($POD_NAMESPACE or the service account's)."
    )
    lease_duration_seconds: int = Field(
        15, ge=1, description="A standby takes over this long after the last renewal it saw."
    )
    renew_deadline_seconds: float = Field(
        10.0, gt=0, description="The leader stops writing this long after its last renewal."
    )
    retry_period_seconds: float = Field(2.0, gt=0, description="Between two attempts to acquire or renew.")

    @model_validator(mode="after")
    def _ordered(self) -> LeaderElectionConfig:
        # client-go's checks: the leader must give up before a standby may take over, and try more
        # than once (jitter factor 1.2) within its renew deadline.
        if not self.renew_deadline_seconds < self.lease_duration_seconds:
            raise ValueError(
                f"leaderElection: renewDeadlineSeconds ({self.renew_deadline_seconds:g}) must be less than "
                f"leaseDurationSeconds ({self.lease_duration_seconds}), or two leaders could write at once"
            )
        if not self.retry_period_seconds * 1.2 < self.renew_deadline_seconds:
            raise ValueError(
                f"leaderElection: retryPeriodSeconds ({self.retry_period_seconds:g}) x 1.2 must be less than "
                f"renewDeadlineSeconds ({self.renew_deadline_seconds:g})"
            )
        return self


class CacheConfig(_Config):
    """Cluster-wide weight cache defaults (``spec.model.cache`` wins field by field); docs/weights.md."""

    mode: Literal["none", "shared"] = Field(
        "none", description="none: each engine pod downloads; shared: stage once."
    )
    storage_class_name: str | None = Field(
        None, description="A ReadWriteMany class; None: the cluster default."
    )
    retain: int = Field(1, ge=0, le=10, description="Caches of earlier revisions each ModelDeployment keeps.")
    fetch_image: str | None = Field(
        None, description="Image running `modelfleet fetch`; None: the operator's."
    )
    fetch_service_account: str = Field("modelfleet-fetch", min_length=1)
    hf_endpoint: str | None = Field(None, description="HF_ENDPOINT for downloads (a Hub mirror).")
    backoff_limit: int = Field(3, ge=0, le=20, description="Retries of a retryable download failure.")


class ModelDiscoveryConfig(_Config):
    """Reading each model's config.json and safetensors index from the Hub (see :mod:`.hub`)."""

    enabled: bool = Field(True, description="Off: facts come from the catalog and spec.model.overrides only.")
    endpoint: str | None = Field(
        None, description="Hub or mirror base URL; None: $HF_ENDPOINT, else https://huggingface.co."
    )
    timeout_seconds: float = Field(10.0, gt=0, le=300, description="Per request, and per file body.")
    retry_min_seconds: float = Field(10.0, gt=0, description="First wait after a failed read.")
    retry_max_seconds: float = Field(600.0, gt=0, description="Longest wait between failed reads.")


class OperatorConfig(_Config):
    namespaces: list[str] = Field(default_factory=list)
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)
    # Watch events start the passes; the resync only looks again at what no event said. 300 s: a
    # thousand unchanged ModelDeployments cost ~3 passes a second, and a 10-minute window of the
    # ModelFleetOperatorNotReconciling alert always holds a resync of each (hence at most 600).
    resync_seconds: float = Field(300.0, gt=0, le=600)
    workers: int = Field(8, ge=1, le=256)
    watch: WatchConfig = Field(default_factory=WatchConfig)
    prometheus: PrometheusConfig = Field(default_factory=PrometheusConfig)
    events: EventsConfig = Field(default_factory=EventsConfig)
    engine_images: dict[str, str] = Field(default_factory=dict)
    license_policy: LicensePolicyConfig = Field(default_factory=LicensePolicyConfig)
    gateway_api: bool | None = Field(None, description="None: detect the Gateway API CRDs at start-up.")
    leader_worker_set: bool | None = Field(
        None, description="None: detect the LeaderWorkerSet CRD at start-up."
    )
    keda: bool | None = Field(
        None, description="None: detect KEDA's ScaledObject CRD at start-up (autoscaling provider auto)."
    )
    leader_election: LeaderElectionConfig = Field(default_factory=LeaderElectionConfig)
    cache: CacheConfig = Field(default_factory=CacheConfig)
    model_discovery: ModelDiscoveryConfig = Field(default_factory=ModelDiscoveryConfig)


def load_config(path: str | Path | None, overrides: dict[str, Any] | None = None) -> OperatorConfig:
    """The configuration from `path` (YAML), with `overrides` (from flags) on top."""
    data: dict[str, Any] = {}
    if path:
        loaded = yaml.safe_load(Path(path).read_text()) or {}
        if not isinstance(loaded, dict):
            raise ValueError(f"{path}: the operator configuration must be a YAML mapping")
        data.update(loaded)
    for key, value in (overrides or {}).items():
        if value is not None:
            data[key] = value
    return OperatorConfig.model_validate(data)
