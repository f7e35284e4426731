"""Operator-level rendering settings: the pinned engine versions and their images.

The pinned versions below are the ones the flag tables in :mod:`modelfleet.render.flags` were
checked against; they are the only place a default engine version or image is written down.
The reconciler loads an :class:`OperatorConfig` from the operator's configuration; the CLI and
the tests use the defaults.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from modelfleet import __version__
from modelfleet.catalog.types import Vendor
from modelfleet.planner.types import Engine

# The engine versions ModelFleet renders by default (newest releases the flag tables were checked
# against; see docs/engines.md for the sources).
PINNED_ENGINE_VERSIONS: Mapping[Engine, str] = MappingProxyType(
    {
        Engine.VLLM: "0.33.0",
        Engine.SGLANG: "0.5.23",
        Engine.TGI: "3.3.7",
    }
)

# Image reference per engine and GPU vendor; ``{version}`` is replaced by the engine version.
# Tag schemes as each project publishes them: vLLM ``v<version>`` (ROCm builds in a separate
# repository), SGLang ``v<version>`` with a ROCm/MI300 suffix, TGI ``<version>`` and ``<version>-rocm``.
DEFAULT_IMAGE_TEMPLATES: Mapping[tuple[Engine, Vendor], str] = MappingProxyType(
    {
        (Engine.VLLM, Vendor.NVIDIA): "vllm/vllm-openai:v{version}",
        (Engine.VLLM, Vendor.AMD): "vllm/vllm-openai-rocm:v{version}",
        (Engine.SGLANG, Vendor.NVIDIA): "lmsysorg/sglang:v{version}",
        (Engine.SGLANG, Vendor.AMD): "lmsysorg/sglang:v{version}-rocm700-mi30x",
        (Engine.TGI, Vendor.NVIDIA): "ghcr.io/huggingface/text-generation-inference:{version}",
        (Engine.TGI, Vendor.AMD): "ghcr.io/huggingface/text-generation-inference:{version}-rocm",
    }
)


@dataclass(frozen=True)
class CacheDefaults:
    """Cluster-wide weight cache settings (operator.yaml ``cache:``, the Helm value ``cache``).

    ``fetch_image`` runs ``modelfleet fetch`` (the operator's own image); ``fetch_service_account`` is the
    ServiceAccount the operator creates in each namespace with a cache, allowed only to patch the
    progress annotation of download Jobs; ``hf_endpoint`` is passed as HF_ENDPOINT (a Hub mirror).
    """

    mode: str = "none"
    storage_class_name: str | None = None
    retain: int = 1
    fetch_image: str = f"ghcr.io/modelfleet/modelfleet:{__version__}"
    fetch_service_account: str = "modelfleet-fetch"
    hf_endpoint: str | None = None
    backoff_limit: int = 3  # retryable failures (exit 1) the Job retries; exit 2 fails it at once


@dataclass(frozen=True)
class OperatorConfig:
    """Rendering defaults an operator administrator may change.

    ``run_as_user``: the engine images (vLLM, SGLang, TGI) run as root by default and write caches
    under ``/root``; set a UID here only with images built to run as that user. Then pods get
    ``runAsNonRoot``, ``runAsUser``, ``runAsGroup`` and ``fsGroup``.
    ``service_port``: the port of every Service we create (the container always listens on 8000).
    ``cache``: the weight cache defaults (``spec.model.cache`` wins field by field) and how its download
    Job runs.
    ``prometheus_url``: the Prometheus the operator queries, which KEDA's triggers query too.
    """

    engine_versions: Mapping[Engine, str] = field(default_factory=lambda: PINNED_ENGINE_VERSIONS)
    image_templates: Mapping[tuple[Engine, Vendor], str] = field(
        default_factory=lambda: DEFAULT_IMAGE_TEMPLATES
    )
    image_pull_policy: str = "IfNotPresent"
    run_as_user: int | None = None
    service_port: int = 80
    cache: CacheDefaults = field(default_factory=lambda: CacheDefaults())
    prometheus_url: str | None = None

    def engine_version(self, engine: Engine, requested: str | None) -> str:
        """The version to run: the spec's ``engine.version`` (a leading ``v`` dropped) or the pin.

        >>> OperatorConfig().engine_version(Engine.VLLM, None)
        '0.33.0'
        >>> OperatorConfig().engine_version(Engine.SGLANG, "v0.5.23")
        '0.5.23'
        """
        if requested:
            return requested[1:] if requested[:1] in ("v", "V") else requested
        return self.engine_versions[engine]

    def image(self, engine: Engine, vendor: Vendor, version: str) -> str:
        """The default image for an engine version on a GPU vendor.

        >>> OperatorConfig().image(Engine.TGI, Vendor.AMD, "3.3.7")
        'ghcr.io/huggingface/text-generation-inference:3.3.7-rocm'
        """
        return self.image_templates[(engine, vendor)].format(version=version)
