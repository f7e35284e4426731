"""The LaunchSpec: everything the templates need, computed once by a pure function.

Templates only place these values; they never compute, default or branch on engine details.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from modelfleet.api import ModelDeploymentSpec
from modelfleet.catalog.types import GpuType, ModelFacts, Vendor
from modelfleet.planner.types import Engine, Plan
from modelfleet.render import names
from modelfleet.render.coldstart import WeightPath
from modelfleet.render.config import OperatorConfig
from modelfleet.render.engines import profile
from modelfleet.render.env import EnvEntry, container_env
from modelfleet.render.errors import RenderError
from modelfleet.render.flags import FlagTable, flag_table, unknown_flags
from modelfleet.render.inputs import (
    CACHE_MOUNT_PATH,
    CONTAINER_PORT,
    MODEL_MOUNT_PATH,
    EngineInputs,
    Role,
    engine_inputs,
)
from modelfleet.render.pod import PodExtras, pod_extras, topology_spread
from modelfleet.render.sizing import Probes, probes, quantity, shm_bytes, weight_bytes

# The node label that names the GPU model, per vendor (GPU Feature Discovery for NVIDIA, the ROCm
# node labeller for AMD); the catalog's product_names are values of this label.
PROGRESS_MARGIN_SECONDS = 600  # image pull and scheduling on top of the model load

PRODUCT_LABEL = {Vendor.NVIDIA: "nvidia.com/gpu.product", Vendor.AMD: "amd.com/gpu.product-name"}


@dataclass(frozen=True)
class PodRole:
    """One pod template of a replica: its labels, its argv and its probes (None: not probed over HTTP)."""

    role: Role
    labels: Mapping[str, str]
    argv: tuple[str, ...]
    probes: Probes | None
    topology_spread: tuple[Mapping[str, object], ...] = ()  # over this role's pods of the revision


@dataclass(frozen=True)
class ModelVolume:
    """The user's PVC mounted read-only at ``mount_path``; never created or deleted by us."""

    claim_name: str
    sub_path: str | None
    mount_path: str = MODEL_MOUNT_PATH


@dataclass(frozen=True)
class LaunchSpec:
    """Everything a pod of one revision needs, in the order the templates use it."""

    name: str  # ModelDeployment name
    namespace: str
    revision: str
    engine: Engine
    engine_version: str
    image: str
    image_pull_policy: str
    leader: PodRole
    worker: PodRole | None  # None for single-node replicas
    nodes_per_replica: int
    env: tuple[EnvEntry, ...]
    gpu_resource_name: str
    gpus_per_pod: int
    shm_size: str
    cache_mount_path: str
    model_volume: ModelVolume | None
    port: int
    run_as_user: int | None
    termination_grace_period_seconds: int
    pre_stop_sleep_seconds: int
    pod: PodExtras
    startup_budget_seconds: int
    labels: Mapping[
        str, str
    ]  # on the workload object (pods add their role; the spec-hash comes after render)

    @property
    def progress_deadline_seconds(self) -> int:
        """A Deployment reports no progress only after the pods had their whole startup budget."""
        return self.startup_budget_seconds + PROGRESS_MARGIN_SECONDS

    @property
    def multi_node(self) -> bool:
        return self.worker is not None


def build_launch_spec(
    spec: ModelDeploymentSpec,
    plan: Plan,
    *,
    name: str,
    namespace: str,
    revision: str,
    config: OperatorConfig,
    gpu: GpuType,
    facts: ModelFacts | None = None,
    cache_claim: str | None = None,
) -> LaunchSpec:
    """The LaunchSpec of one revision (pure; raises :class:`RenderError` with what to change).
    ``cache_claim``: the weight cache the pods mount read-only instead of downloading."""
    inputs = engine_inputs(spec, plan, facts, cache_claim)
    version = config.engine_version(inputs.engine, spec.engine.version)
    table = flag_table(inputs.engine, version)
    engine = profile(inputs.engine)
    # A pod that reads staged weights (a cache, or the user's own volume) starts far sooner than one
    # that downloads them: its startup probe gives it that much less room before a restart.
    staged = cache_claim is not None or inputs.model.pvc_claim is not None
    gpus = plan.chosen.gpus_per_replica if plan.chosen else 1
    path = WeightPath.SHARED if staged else WeightPath.HUB
    pod_probes = probes(engine.health_path, weight_bytes(plan), path, gpus)
    labels = {**names.object_labels(name, revision), names.ENGINE_LABEL: inputs.engine.value}
    if cache_claim is not None:
        labels[names.CACHE_LABEL] = cache_claim
    user_labels = spec.pod_template.metadata.labels
    leader = _pod_role(inputs, Role.LEADER, labels, pod_probes, user_labels)
    worker = None
    if inputs.parallel.multi_node:
        worker_probes = pod_probes if engine.workers_serve_health else None
        worker = _pod_role(inputs, Role.WORKER, labels, worker_probes, user_labels)
    for role in (leader, worker):
        if role is not None:
            _check_flags(table, role.argv, len(spec.engine.args))
    return LaunchSpec(
        name=name,
        namespace=namespace,
        revision=revision,
        engine=inputs.engine,
        engine_version=version,
        image=spec.engine.image or config.image(inputs.engine, gpu.vendor, version),
        image_pull_policy=config.image_pull_policy,
        leader=leader,
        worker=worker,
        nodes_per_replica=inputs.parallel.nodes,
        env=container_env(inputs, spec.engine.env),
        gpu_resource_name=gpu.resource_name,
        gpus_per_pod=inputs.parallel.gpus_per_node,
        shm_size=quantity(shm_bytes(inputs.parallel.gpus_per_node)),
        cache_mount_path=CACHE_MOUNT_PATH,
        model_volume=_model_volume(inputs),
        port=CONTAINER_PORT,
        run_as_user=config.run_as_user,
        termination_grace_period_seconds=engine.shutdown.grace_period_seconds,
        pre_stop_sleep_seconds=engine.shutdown.serve_after_stop_seconds,
        pod=pod_extras(
            spec.pod_template,
            gpu_resource_name=gpu.resource_name,
            product_label=PRODUCT_LABEL[gpu.vendor],
            product_names=sorted(set(gpu.product_names)),
        ),
        startup_budget_seconds=pod_probes.startup_budget_seconds,
        labels=labels,
    )


def _pod_role(
    inputs: EngineInputs,
    role: Role,
    labels: Mapping[str, str],
    pod_probes: Probes | None,
    user_labels: Mapping[str, str],
) -> PodRole:
    role_label = names.ROLE_SERVER if role is Role.LEADER else names.ROLE_WORKER
    ours = {**labels, names.ROLE_LABEL: role_label}
    spread_over = {key: ours[key] for key in (names.NAME_LABEL, names.REVISION_LABEL, names.ROLE_LABEL)}
    return PodRole(
        role=role,
        labels={**user_labels, **ours},  # ours win: Services and budgets select by them
        argv=profile(inputs.engine).argv(inputs, role),
        probes=pod_probes,
        topology_spread=tuple(topology_spread(spread_over)),
    )


def _check_flags(table: FlagTable, argv: tuple[str, ...], user_arg_count: int) -> None:
    """Refuse to render a flag of ours the engine release does not accept (user args are theirs)."""
    ours = argv[: len(argv) - user_arg_count] if user_arg_count else argv
    unknown = unknown_flags(table, ours)
    if unknown:
        raise RenderError(
            f"internal: {table.engine.value} {table.checked_against} does not list {', '.join(unknown)}; "
            "update modelfleet.render.flags after checking the engine's parser"
        )


def _model_volume(inputs: EngineInputs) -> ModelVolume | None:
    location = inputs.model
    if location.pvc_claim is None:
        return None
    return ModelVolume(claim_name=location.pvc_claim, sub_path=location.pvc_sub_path)
