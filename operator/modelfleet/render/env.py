"""The engine container's environment: sorted, deterministic, and never a token in clear text."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from modelfleet.api import EnvVar
from modelfleet.planner.types import Engine
from modelfleet.render.errors import RenderError
from modelfleet.render.inputs import CACHE_MOUNT_PATH, HF_HOME, EngineInputs

# Names under which huggingface_hub reads a token; a literal value here would land in etcd and in
# every `kubectl get -o yaml`, so only a secretKeyRef may set them.
TOKEN_NAMES = frozenset({"HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HUGGINGFACE_HUB_TOKEN"})

# Engine telemetry off: nothing leaves the cluster unasked.
ENGINE_ENV = {
    Engine.VLLM: {"VLLM_NO_USAGE_STATS": "1"},
    Engine.SGLANG: {},
    Engine.TGI: {},
}


@dataclass(frozen=True)
class EnvEntry:
    """A literal ``value``, or a ``secret_name``/``secret_key`` reference (rendered as valueFrom)."""

    name: str
    value: str | None = None
    secret_name: str | None = None
    secret_key: str | None = None


def container_env(inputs: EngineInputs, user_env: Iterable[EnvVar]) -> tuple[EnvEntry, ...]:
    """Our variables, then the user's ``engine.env`` (the user wins on a name clash), sorted by name.

    HF_HOME and XDG_CACHE_HOME point at the cache volume, so downloads and compile caches never
    fill the container's writable layer and a non-root user can write them.
    """
    entries: dict[str, EnvEntry] = {
        "HF_HOME": EnvEntry("HF_HOME", HF_HOME),
        "XDG_CACHE_HOME": EnvEntry("XDG_CACHE_HOME", CACHE_MOUNT_PATH),
    }
    for name, value in ENGINE_ENV[inputs.engine].items():
        entries[name] = EnvEntry(name, value)
    if inputs.model.offline:
        # Weights come from a volume or object store: never reach out to the Hub.
        entries["HF_HUB_OFFLINE"] = EnvEntry("HF_HUB_OFFLINE", "1")
    token = inputs.model.hf_token
    if token is not None:
        entries["HF_TOKEN"] = EnvEntry("HF_TOKEN", secret_name=token.name, secret_key=token.key)
    for var in user_env:
        if var.name in TOKEN_NAMES:
            raise RenderError(
                f"engine.env {var.name}: a token must not be written in the spec; store it in a Secret "
                "and set model.source.huggingface.tokenSecretRef {name, key}"
            )
        entries[var.name] = EnvEntry(var.name, var.value)
    return tuple(entries[name] for name in sorted(entries))
