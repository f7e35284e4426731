"""Every flag the renderer emits is one the pinned engine release accepts."""

from __future__ import annotations

import itertools

import pytest

from modelfleet.planner.types import Engine
from modelfleet.render import RenderError, launch_spec
from modelfleet.render.config import PINNED_ENGINE_VERSIONS
from modelfleet.render.flags import FLAG_TABLES, emitted_flags, flag_table
from modelfleet.render.launch import LaunchSpec
from tests.unit.golden.cases import GPUS, H100, HF_SOURCE, make_plan, make_spec

PLAN_SHAPES = {
    "1-gpu": {"gpus": 1},
    "tp4": {"gpus": 4},
    "tp8-ep": {"gpus": 8, "ep": True},
    "tp2-dp2": {"gpus": 4, "tp": 2, "dp": 2},
    "dp8-ep": {"gpus": 8, "tp": 1, "dp": 8, "ep": True},
    "dp16-ep-two-nodes": {"gpus": 16, "nodes": 2, "tp": 1, "dp": 16, "ep": True},
    "pp-two-nodes": {"gpus": 16, "nodes": 2, "tp": 8, "pp": 2},
    "tp-two-nodes-ep": {"gpus": 16, "nodes": 2, "tp": 16, "ep": True},
    "amd-tp8": {"gpus": 8, "gpu": "MI300X"},
}
MODEL_VARIANTS = {
    "hub": {"id": "org/model", "revision": "abc1234", "source": HF_SOURCE},
    "fp8": {"id": "org/model", "quantization": "fp8"},
    "int8": {"id": "org/model", "quantization": "int8"},
    "awq": {"id": "org/model", "quantization": "awq"},
    "pvc": {"id": "org/model", "source": {"pvc": {"claimName": "models"}}},
    "s3": {"id": "org/model", "source": {"uri": "s3://bucket/org/model"}},
}
SERVING_VARIANTS = {
    "defaults": {},
    "long-fp8-kv": {"maxModelLen": 131072, "kvCacheDtype": "fp8", "gpuMemoryUtilization": 0.85},
}


def render_or_none(engine: str, shape: dict, model: dict, serving: dict) -> LaunchSpec | None:
    """The LaunchSpec, or None when the renderer refuses the combination with a RenderError."""
    shape = dict(shape)
    gpu = GPUS[shape.pop("gpu", "H100-80GB")]
    spec = make_spec(engine, model=model, serving=serving, engine={"name": engine})
    plan = make_plan(engine, gpu=gpu.name, **shape)
    try:
        return launch_spec(spec, plan, name="m", namespace="ns", revision="0123456789", gpu=gpu)
    except RenderError:
        return None


def rendered_launch_specs(engine: Engine) -> list[LaunchSpec]:
    combos = itertools.product(PLAN_SHAPES.values(), MODEL_VARIANTS.values(), SERVING_VARIANTS.values())
    launches = [render_or_none(engine.value, shape, model, serving) for shape, model, serving in combos]
    return [launch for launch in launches if launch is not None]


@pytest.mark.parametrize("engine", list(Engine))
def test_every_emitted_flag_is_in_the_engine_versions_flag_table(engine: Engine) -> None:
    launches = rendered_launch_specs(engine)
    # Many combinations render; the refusals (TGI multi-node and DP, SGLang from s3, int8 / awq on a
    # bf16 checkpoint ...) are tested elsewhere.
    assert len(launches) >= len(PLAN_SHAPES) * len(MODEL_VARIANTS) * len(SERVING_VARIANTS) // 4
    for launch in launches:
        table = flag_table(launch.engine, launch.engine_version)
        for role in [launch.leader] + ([launch.worker] if launch.worker else []):
            unknown = [f for f in emitted_flags(role.argv) if f not in table.flags]
            assert not unknown, (
                f"{engine.value} {launch.engine_version} {role.role}: {unknown} in {role.argv}"
            )


def test_the_flag_matrix_covers_multi_node_and_expert_parallel_flags() -> None:
    emitted = {
        flag
        for engine in (Engine.VLLM, Engine.SGLANG)
        for launch in rendered_launch_specs(engine)
        for role in [launch.leader] + ([launch.worker] if launch.worker else [])
        for flag in emitted_flags(role.argv)
    }
    assert {
        "--nnodes",
        "--node-rank",
        "--headless",
        "--dist-init-addr",
        "--enable-expert-parallel",
        "--ep-size",
        "--enable-dp-attention",
        "--data-parallel-size",
    } <= emitted


def test_every_flag_table_row_names_its_upstream_source() -> None:
    for table in FLAG_TABLES:
        assert table.repository and table.checked_against.startswith("v")
        for flag_name, source in table.flags.items():
            assert flag_name.startswith("--") and source, (table.engine, flag_name)


def test_every_pinned_version_has_a_flag_table() -> None:
    for engine, version in PINNED_ENGINE_VERSIONS.items():
        assert flag_table(engine, version).engine == engine


def test_an_engine_version_without_a_flag_table_is_refused_with_the_supported_series() -> None:
    spec = make_spec("vllm", engine={"name": "vllm", "version": "0.8.5"})
    with pytest.raises(RenderError, match=r"supported: 0\.33\.x"):
        launch_spec(spec, make_plan("vllm"), name="m", namespace="ns", revision="0123456789", gpu=H100)


def test_a_patch_release_of_the_pinned_series_uses_the_same_table() -> None:
    spec = make_spec("sglang", engine={"name": "sglang", "version": "v0.5.24"})
    launch = launch_spec(spec, make_plan("sglang"), name="m", namespace="ns", revision="0123456789", gpu=H100)
    assert launch.engine_version == "0.5.24"
    assert launch.image == "lmsysorg/sglang:v0.5.24"
