"""Hypothesis strategies for whole ModelDeployments sent to the real API server.

A :class:`Case` is a small valid ModelDeployment with one change: a value the schema allows (the
API server must accept it and the operator must answer it with a condition), or a value it must
refuse (wrong type, out of range, bad enum or pattern, too long, an unknown field, a CEL
cross-field violation), together with the text the API server's refusal must contain: the path of
the field, and for CEL rules the rule's message.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from modelfleet.api.spec_model import MODEL_ID_PATTERN, URI_PATTERN

ACCEPT, REJECT, EITHER = "accept", "reject", "either"
Path = tuple[str | int, ...]

BASE: dict[str, Any] = {
    "model": {"id": "mistralai/Mistral-7B-Instruct-v0.3", "revision": "r1"},
    "accelerator": {"type": "auto"},
    "replicas": 0,  # rendered and applied like any other, without holding GPUs; the replicas case sets 1-2
    "serving": {"maxModelLen": 4096},
    "rollout": {
        "canary": {
            "steps": [{"setWeight": 50}, {"pause": {"duration": "3s"}}],
            "trafficRouting": {"provider": "replicas"},
        }
    },
}
MODELS = (
    "mistralai/Mistral-7B-Instruct-v0.3",
    "Qwen/Qwen3-32B",
    "meta-llama/Llama-3.1-405B-Instruct",
    "deepseek-ai/DeepSeek-V4-Flash",
    "moonshotai/Kimi-K2.6",
    "MiniMaxAI/MiniMax-M2.7",
    "acme/not-in-catalog",
)
GPUS = ("auto", "H200", "H100-80GB", "A100-80GB", "L4", "MI300X", "B200", "TPU-v5", "h200")
ENUMS: dict[Path, tuple[str, ...]] = {
    ("engine", "name"): ("vllm", "sglang", "tgi"),
    ("model", "quantization"): ("bf16", "fp8", "int8", "fp4", "int4", "awq", "gptq"),
    ("serving", "kvCacheDtype"): ("auto", "fp8"),
    ("rollout", "strategy"): ("Canary", "RollingUpdate"),
    ("rollout", "canary", "trafficRouting", "provider"): ("auto", "replicas"),
    ("rollout", "canary", "capacity"): ("surge", "swap"),
    ("rollout", "action"): ("", "promote", "abort", "pause", "resume", "retry"),
}
# Integer fields and their inclusive bounds in the schema.
INTEGERS: dict[Path, tuple[int, int | None]] = {
    ("replicas",): (0, 1000),
    ("serving", "maxModelLen"): (1, None),
    ("serving", "concurrency"): (1, 4096),
    ("accelerator", "gpusPerReplica"): (1, 1024),
    ("accelerator", "tensorParallel"): (1, 1024),
    ("accelerator", "pipelineParallel"): (1, 128),
    ("rollout", "failureLimit"): (1, 100),
    ("rollout", "errorLimit"): (1, 100),
    ("rollout", "canary", "steps", 0, "setWeight"): (0, 100),
}
STRINGS: dict[Path, int] = {  # free text fields and their maxLength
    ("model", "revision"): 256,
    ("engine", "version"): 128,
    ("engine", "image"): 512,
    ("accelerator", "type"): 64,
}
OBJECTS: tuple[Path, ...] = (
    (),
    ("model",),
    ("engine",),
    ("serving",),
    ("accelerator",),
    ("rollout",),
    ("rollout", "canary"),
    ("rollout", "canary", "trafficRouting"),
    ("rollout", "canary", "steps", 0),
    ("model", "overrides"),
)
# CEL rules: (path to the object, the object, the rule's message).
CEL_VIOLATIONS: tuple[tuple[Path, Any, str], ...] = (
    (
        ("rollout", "canary", "steps", 0),
        {"setWeight": 10, "pause": {"duration": "1m"}},
        "each step sets exactly one of setWeight, pause, analysis",
    ),
    (("rollout", "canary", "steps", 0), {}, "each step sets exactly one of setWeight, pause, analysis"),
    (
        ("model", "source"),
        {"huggingface": {}, "uri": "s3://bucket/model"},
        "set exactly one of huggingface, pvc, uri",
    ),
    (("model", "source"), {}, "set exactly one of huggingface, pvc, uri"),
    (
        ("accelerator",),
        {"type": "H200", "gpusPerReplica": 8, "tensorParallel": 4, "pipelineParallel": 1},
        "gpusPerReplica must equal tensorParallel * pipelineParallel",
    ),
    (
        ("rollout", "canary", "trafficRouting"),
        {"provider": "gatewayAPI"},
        "provider gatewayAPI needs gatewayAPI.parentRefs",
    ),
    (("rollout", "analysisTemplates", 0), {"name": "mine", "query": "vector(1)"}, "set max, min or both"),
)


@dataclass(frozen=True)
class Case:
    spec: dict[str, Any]
    expect: str  # ACCEPT | REJECT | EITHER
    names: tuple[str, ...]  # a refusal must contain each of these
    what: str


def field_name(path: Path) -> str:
    """``spec.rollout.canary.steps[0].setWeight`` for a path, as the API server names fields.

    >>> field_name(("rollout", "canary", "steps", 0, "setWeight"))
    'spec.rollout.canary.steps[0].setWeight'
    """
    text = "spec"
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text


def with_value(path: Path, value: Any) -> dict[str, Any]:
    """BASE with `value` at `path` (missing objects and list items are created)."""
    spec = copy.deepcopy(BASE)
    node: Any = spec
    for part, following in zip(path[:-1], path[1:], strict=True):
        if isinstance(part, int):
            while len(node) <= part:
                node.append({})
            node = node[part]
            continue
        empty: Any = [] if isinstance(following, int) else {}
        if not isinstance(node.get(part), type(empty)):
            node[part] = empty
        node = node[part]
    last = path[-1]
    if isinstance(last, int):
        while len(node) <= last:
            node.append({})
    node[last] = value
    return spec


def case(path: Path, value: Any, expect: str, *names: str, what: str = "") -> Case:
    return Case(
        with_value(path, value),
        expect,
        names or (field_name(path),),
        what or f"{field_name(path)} = {value!r}"[:200],
    )


# kubectl apply --server-side sends YAML, which cannot carry raw control characters (the API server
# answers "error decoding YAML"); test_bad_input sends those as JSON on their own.
printable = st.characters(blacklist_categories=("Cc", "Cs", "Cn"))


def texts(min_size: int = 0, max_size: int = 40) -> st.SearchStrategy[str]:
    return st.text(printable, min_size=min_size, max_size=max_size)


# ---- values the schema accepts ------------------------------------------------------------------------
text = texts(min_size=1)
valid_cases = st.one_of(
    st.builds(lambda v: case(("replicas",), v, ACCEPT), st.integers(0, 2)),
    st.builds(
        lambda v: case(("model", "id"), v, ACCEPT),
        st.sampled_from(MODELS) | st.from_regex(MODEL_ID_PATTERN, fullmatch=True),
    ),
    st.builds(
        lambda v: case(("accelerator", "type"), v, ACCEPT),
        st.sampled_from(GPUS) | texts(min_size=1, max_size=64),
    ),
    st.sampled_from(sorted(ENUMS)).flatmap(
        lambda p: st.sampled_from(ENUMS[p]).map(lambda v: case(p, v, ACCEPT))
    ),
    st.sampled_from(sorted(STRINGS)).flatmap(
        lambda p: texts(min_size=1, max_size=min(60, STRINGS[p])).map(lambda v: case(p, v, ACCEPT))
    ),
    st.builds(lambda v: case(("serving", "concurrency"), v, ACCEPT), st.integers(1, 4096)),
    st.builds(lambda v: case(("serving", "maxModelLen"), v, ACCEPT), st.integers(1, 2**31)),
    st.builds(lambda v: case(("serving", "gpuMemoryUtilization"), v, ACCEPT), st.floats(0.1, 0.98)),
    st.builds(lambda v: case(("engine", "args"), v, ACCEPT), st.lists(texts(max_size=40), max_size=4)),
    st.builds(
        lambda n, v: case(("engine", "env"), [{"name": n, "value": v}], ACCEPT),
        st.from_regex(r"\A[A-Za-z_][A-Za-z0-9_.-]{0,20}\Z"),
        texts(max_size=40),
    ),
    st.builds(
        lambda name, key: case(
            ("model", "source"), {"huggingface": {"tokenSecretRef": {"name": name, "key": key}}}, ACCEPT
        ),
        text,
        text,
    ),
    st.builds(lambda claim: case(("model", "source"), {"pvc": {"claimName": claim}}, ACCEPT), text),
    st.builds(
        lambda uri: case(("model", "source"), {"uri": uri}, ACCEPT),
        st.from_regex(URI_PATTERN, fullmatch=True, alphabet=printable),
    ),
    st.builds(
        lambda tp, pp: case(
            ("accelerator",),
            {"type": "H200", "gpusPerReplica": tp * pp, "tensorParallel": tp, "pipelineParallel": pp},
            ACCEPT,
        ),
        st.sampled_from((1, 2, 3, 4, 8, 16)),
        st.integers(1, 4),
    ),
    st.builds(
        lambda name, hosts: case(
            ("rollout", "canary", "trafficRouting"),
            {"provider": "gatewayAPI", "gatewayAPI": {"parentRefs": [{"name": name}], "hostnames": hosts}},
            ACCEPT,
        ),
        text,
        st.lists(text, max_size=2),
    ),
    st.builds(
        lambda layers, heads: case(
            ("model", "overrides"), {"numLayers": layers, "numAttentionHeads": heads}, ACCEPT
        ),
        st.integers(1, 10**6),
        st.integers(1, 10**4),
    ),
    st.builds(
        lambda v: case(("rollout", "canary", "steps"), v, ACCEPT),
        st.lists(
            st.one_of(
                st.builds(lambda w: {"setWeight": w}, st.integers(0, 100)),
                st.just({"pause": {}}),
                st.just({"pause": {"duration": "1s"}}),
                st.just({"analysis": {"templates": ["ttft-p95"]}}),
                st.just({"analysis": {"templates": ["no-such"]}}),
            ),
            max_size=5,
        ),
    ),
    st.builds(lambda v: case(("model", "licenseAccepted"), v, ACCEPT), st.booleans()),
)


# ---- values it must refuse ------------------------------------------------------------------------------
def _wrong_type(path: Path, kind: str) -> st.SearchStrategy[Case]:
    values = {
        "integer": texts(max_size=5)
        | st.booleans()
        | st.lists(st.integers(), max_size=2)
        | st.just({"a": 1}),
        "string": st.integers()
        | st.booleans()
        | st.lists(texts(max_size=3), max_size=2)
        | st.just({"a": "b"}),
        "object": st.integers() | texts(max_size=5) | st.lists(st.integers(), min_size=1, max_size=2),
    }[kind]
    return values.map(lambda v: case(path, v, REJECT))


def _out_of_range(path: Path) -> st.SearchStrategy[Case]:
    low, high = INTEGERS[path]
    outside = st.integers(max_value=low - 1)
    if high is not None:
        outside |= st.integers(min_value=high + 1, max_value=2**40)
    return outside.map(lambda v: case(path, v, REJECT))


invalid_cases = st.one_of(
    st.sampled_from(sorted(INTEGERS)).flatmap(lambda p: _wrong_type(p, "integer")),
    st.sampled_from(sorted(STRINGS)).flatmap(lambda p: _wrong_type(p, "string")),
    st.sampled_from([("model",), ("serving",), ("accelerator",), ("rollout", "canary")]).flatmap(
        lambda p: _wrong_type(p, "object")
    ),
    st.sampled_from(sorted(INTEGERS)).flatmap(_out_of_range),
    st.sampled_from(sorted(ENUMS)).flatmap(
        lambda p: (
            texts(max_size=12)
            .filter(lambda v: v not in (*ENUMS[p], "gatewayAPI"))
            .map(lambda v: case(p, v, REJECT))
        )
    ),
    st.builds(
        lambda v: case(("serving", "gpuMemoryUtilization"), v, REJECT),
        st.floats(max_value=0.099, allow_nan=False, allow_infinity=False)
        | st.floats(min_value=0.981, max_value=1e6),
    ),
    st.builds(lambda v: case(("model", "id"), v, REJECT), texts(max_size=30).filter(lambda v: "/" not in v)),
    st.builds(
        lambda v: case(("model", "source"), {"uri": v}, REJECT, "spec.model.source.uri"),
        texts(max_size=30).filter(lambda v: "://" not in v),
    ),
    st.builds(
        lambda v: case(("rollout", "progressDeadline"), v, REJECT),
        st.sampled_from(["10 minutes", "1y", "-5m", "", "1.5.3s", "m5"]),
    ),
    st.sampled_from(sorted(STRINGS)).flatmap(
        lambda p: st.integers(STRINGS[p] + 1, STRINGS[p] + 50).map(lambda n: case(p, "x" * n, REJECT))
    ),
    st.builds(
        lambda parent, key: case((*parent, key), 1, REJECT),
        st.sampled_from(OBJECTS),
        st.from_regex(r"\Azz[a-zA-Z0-9]{1,8}\Z"),
    ),
    st.sampled_from(CEL_VIOLATIONS).map(lambda c: case(c[0], c[1], REJECT, field_name(c[0]), c[2])),
)

cases = st.one_of(valid_cases, invalid_cases)
