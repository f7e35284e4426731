"""Loading the catalog's data files into typed, frozen facts, once per process.

The data files ship inside the package (``catalog/data/*.yaml``) and are read with
:mod:`importlib.resources`, so the catalog works from a wheel, a zip or a source checkout alike.
Every entry is validated on load: an unknown key, a wrong type or an ``unknown`` list that disagrees
with the null facts raises :class:`CatalogError` naming the file, the entry and the field.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import Any

import yaml

from modelfleet.catalog import values as v
from modelfleet.catalog.errors import CatalogError
from modelfleet.catalog.facts import missing_facts
from modelfleet.catalog.types import GIB, AttentionKind, GpuType, ModelFacts, MoeFacts, Vendor

GPU_KEYS = frozenset(
    {
        "vendor",
        "memory_gib",
        "gpus_per_node",
        "node_shapes",
        "compute_capability",
        "arch",
        "fp8",
        "fp4",
        "resource_name",
        "product_names",
        "relative_cost",
        "aliases",
        "source",
    }
)
MODEL_KEYS = frozenset(v.MODEL_INT_FIELDS) | {
    "architecture",
    "attention",
    "moe",
    "native_dtype",
    "license",
    "vision",
    "trust_remote_code",
    "source",
    "notes",
    "unknown",
}
MOE_KEYS = frozenset({"routed_experts", "shared_experts", "experts_per_token", "expert_intermediate_size"})


# PyYAML's C (libyaml) safe loader when built with it: the catalogs and the renderer parse with it.
SAFE_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_data_file(name: str) -> Mapping[str, Any]:
    """The YAML mapping in ``catalog/data/<name>``."""
    where = f"catalog/data/{name}"
    try:
        raw = resources.files("modelfleet.catalog").joinpath("data", name).read_text(encoding="utf-8")
        data = yaml.load(raw, Loader=SAFE_LOADER)  # noqa: S506 - a safe loader, the C one when present
    except (OSError, yaml.YAMLError) as error:
        raise CatalogError(f"{where}: cannot be read ({error}); reinstall the modelfleet package") from error
    if not isinstance(data, Mapping):
        raise CatalogError(f"{where}: must be a mapping of name -> entry, got {v.describe(data)}")
    return data


def entry_of(
    data: Mapping[str, Any], key: str, where: str, allowed_keys: frozenset[str]
) -> Mapping[str, Any]:
    entry = data[key]
    if not isinstance(entry, Mapping):
        raise CatalogError(f"{where}: entry {key} must be a mapping, got {v.describe(entry)}")
    extra = sorted(set(entry) - allowed_keys)
    if extra:
        raise CatalogError(f"{where}: entry {key} has unknown field(s) {', '.join(map(str, extra))}")
    return entry


# ---- GPUs -------------------------------------------------------------------------------------------


def normalize_name(name: str) -> str:
    """Case-, space-, underscore- and dash-insensitive form of a GPU or product name.

    >>> normalize_name("AMD_Instinct_MI300X_OAM") == normalize_name("amd-instinct-mi300x-oam")
    True
    """
    return re.sub(r"[\s_\-]+", "-", name.strip().lower())


def _gpu(name: str, entry: Mapping[str, Any]) -> GpuType:
    where = f"catalog/data/gpus.yaml: {name}"
    vendor = entry.get("vendor")
    if vendor not in {member.value for member in Vendor}:
        raise CatalogError(f"{where}: field vendor must be one of nvidia, amd, got {v.describe(vendor)}")
    relative_cost = entry.get("relative_cost")
    if isinstance(relative_cost, bool) or not isinstance(relative_cost, int | float) or relative_cost <= 0:
        raise CatalogError(f"{where}: field relative_cost must be a positive number")
    gpus_per_node = v.checked_int(entry.get("gpus_per_node"), where=where, field="gpus_per_node", maximum=72)
    shapes = _node_shapes(entry, where)
    if shapes and shapes[0] != gpus_per_node:
        raise CatalogError(
            f"{where}: field node_shapes must start with gpus_per_node ({gpus_per_node}), the default"
        )
    return GpuType(
        name=name,
        vendor=Vendor(vendor),
        memory_bytes=v.checked_int(entry.get("memory_gib"), where=where, field="memory_gib", maximum=4096)
        * GIB,
        gpus_per_node=gpus_per_node,
        compute_capability=v.text(entry, "compute_capability", where=where),
        arch=v.text(entry, "arch", where=where) or "",
        fp8=v.flag(entry, "fp8", where=where),
        fp4=v.flag(entry, "fp4", where=where),
        resource_name=v.text(entry, "resource_name", where=where) or "",
        product_names=v.string_list(entry, "product_names", where=where),
        relative_cost=float(relative_cost),
        source=v.string_list(entry, "source", where=where),
        node_shapes=shapes,
    )


def _node_shapes(entry: Mapping[str, Any], where: str) -> tuple[int, ...]:
    shapes = entry.get("node_shapes")
    if shapes is None:
        return ()
    if not isinstance(shapes, list) or not shapes:
        raise CatalogError(f"{where}: field node_shapes must be a non-empty list of GPU counts")
    counts = tuple(v.checked_int(count, where=where, field="node_shapes", maximum=72) for count in shapes)
    if len(set(counts)) != len(counts):
        raise CatalogError(f"{where}: field node_shapes lists a shape twice")
    return counts


@dataclass(frozen=True)
class _GpuTables:
    gpus: Mapping[str, GpuType]
    aliases: Mapping[str, str]  # normalised name or alias -> catalog name
    ambiguous: Mapping[str, str]  # normalised alias -> "A, B" (the names it could mean)
    products: Mapping[str, str]  # normalised product label -> catalog name


@cache
def _gpu_tables() -> _GpuTables:
    data = read_data_file("gpus.yaml")
    gpus: dict[str, GpuType] = {}
    aliases: dict[str, set[str]] = {}
    products: dict[str, str] = {}
    for name in data:
        entry = entry_of(data, name, "catalog/data/gpus.yaml", GPU_KEYS)
        gpus[name] = _gpu(name, entry)
        family = normalize_name(name).split("-")[0]  # "H100-80GB" -> "h100", used only when unambiguous
        for alias in {
            normalize_name(name),
            family,
            *map(normalize_name, v.string_list(entry, "aliases", where=name)),
        }:
            aliases.setdefault(alias, set()).add(name)
        for product in gpus[name].product_names:
            products[normalize_name(product)] = name
    # An exact key always wins over a family alias ("H20" is not ambiguous with anything).
    resolved = {alias: names.pop() for alias, names in aliases.items() if len(names) == 1}
    resolved.update({normalize_name(name): name for name in gpus})
    ambiguous = {
        alias: ", ".join(sorted(names))
        for alias, names in aliases.items()
        if len(names) > 1 and alias not in resolved
    }
    return _GpuTables(
        MappingProxyType(gpus),
        MappingProxyType(resolved),
        MappingProxyType(ambiguous),
        MappingProxyType(products),
    )


def gpu_catalog() -> Mapping[str, GpuType]:
    """Every catalog GPU by its catalog name (``"H100-80GB"``), read-only."""
    return _gpu_tables().gpus


def get_gpu(name: str) -> GpuType:
    """The GPU called ``name``: a catalog key, an unambiguous alias or a node product label.

    >>> get_gpu("h200").name, get_gpu("NVIDIA-H100-80GB-HBM3").name, get_gpu("mi300x").name
    ('H200', 'H100-80GB', 'MI300X')
    """
    tables = _gpu_tables()
    key = normalize_name(name) if isinstance(name, str) else ""
    if key in tables.aliases:
        return tables.gpus[tables.aliases[key]]
    by_product = gpu_for_product(name)
    if by_product is not None:
        return by_product
    valid = ", ".join(tables.gpus)
    if key in tables.ambiguous:
        raise CatalogError(
            f"GPU {name!r} is ambiguous: it could be {tables.ambiguous[key]}; set accelerator.type to one of them"
        )
    raise CatalogError(f"unknown GPU {name!r}; set accelerator.type to one of: {valid} (or auto)")


def gpu_for_product(product_label: str) -> GpuType | None:
    """The catalog GPU for a node's ``nvidia.com/gpu.product`` (or ``amd.com/gpu.product-name``) label.

    GPU Feature Discovery appends ``-SHARED`` when time-slicing renames the product; that suffix is
    ignored. A MIG product (``...-MIG-1g.10gb``) is a slice with less memory, so it is not matched.

    >>> gpu_for_product("NVIDIA-A100-SXM4-80GB").name, gpu_for_product("NVIDIA-H100-80GB-HBM3-SHARED").name
    ('A100-80GB', 'H100-80GB')
    >>> gpu_for_product("NVIDIA-A100-SXM4-40GB-MIG-1g.5gb") is None
    True
    """
    if not isinstance(product_label, str):
        return None
    tables = _gpu_tables()
    name = tables.products.get(normalize_name(product_label).removesuffix("-shared"))
    return tables.gpus[name] if name else None


# ---- models -----------------------------------------------------------------------------------------


def _moe(model_id: str, entry: Mapping[str, Any]) -> MoeFacts | None:
    where = f"catalog/data/models.yaml: {model_id}"
    moe = v.mapping(entry, "moe", where=where)
    if moe is None:
        return None
    extra = sorted(set(moe) - MOE_KEYS)
    if extra:
        raise CatalogError(f"{where}: field moe has unknown field(s) {', '.join(map(str, extra))}")
    return MoeFacts(
        **{key: v.count(moe, key, where=where, field=f"moe.{key}", minimum=0) for key in sorted(MOE_KEYS)}
    )


def _model(model_id: str, entry: Mapping[str, Any]) -> ModelFacts:
    where = f"catalog/data/models.yaml: {model_id}"
    attention = entry.get("attention", "unknown")
    if attention not in {kind.value for kind in AttentionKind}:
        kinds = ", ".join(kind.value for kind in AttentionKind)
        raise CatalogError(f"{where}: field attention must be one of {kinds}, got {v.describe(attention)}")
    ints = {
        key: v.count(entry, key, where=where, minimum=0 if key == "full_attention_layers" else 1, maximum=top)
        for key, top in v.MODEL_INT_FIELDS.items()
    }
    facts = ModelFacts(
        id=model_id,
        architecture=v.text(entry, "architecture", where=where),
        attention=AttentionKind(attention),
        moe=_moe(model_id, entry),
        native_dtype=v.text(entry, "native_dtype", where=where),
        license=v.text(entry, "license", where=where),
        vision=v.flag(entry, "vision", where=where),
        trust_remote_code=v.flag(entry, "trust_remote_code", where=where),
        source=v.string_list(entry, "source", where=where),
        notes=str(entry.get("notes") or ""),
        unknown=v.string_list(entry, "unknown", where=where),
        **ints,  # type: ignore[arg-type]
    )
    _check_unknown(where, facts)
    return facts


def _check_unknown(where: str, facts: ModelFacts) -> None:
    # The unknown list is what users read in `modelfleet catalog` and the planner's refusals, so it
    # must match the data exactly: no null fact left unnamed, no named fact that has a value.
    expected, listed = set(missing_facts(facts)), set(facts.unknown)
    if expected != listed:
        unlisted, stale = sorted(expected - listed), sorted(listed - expected)
        raise CatalogError(
            f"{where}: field unknown disagrees with the data: add {unlisted or 'nothing'}, remove {stale or 'nothing'}"
        )


@cache
def _model_tables() -> tuple[Mapping[str, ModelFacts], Mapping[str, str]]:
    data = read_data_file("models.yaml")
    models = {
        str(model_id): _model(str(model_id), entry_of(data, model_id, "catalog/data/models.yaml", MODEL_KEYS))
        for model_id in data
    }
    by_lower = {model_id.lower(): model_id for model_id in models}
    return MappingProxyType(models), MappingProxyType(by_lower)


def model_catalog() -> Mapping[str, ModelFacts]:
    """Every catalog model by its Hugging Face repo id, read-only."""
    return _model_tables()[0]


def get_model(model_id: str) -> ModelFacts | None:
    """The catalog facts for ``model_id`` (repo id, any case), or ``None`` when the catalog lacks it.

    >>> get_model("deepseek-ai/deepseek-v4-flash").num_layers
    43
    >>> get_model("acme/unheard-of") is None
    True
    """
    if not isinstance(model_id, str):
        return None
    models, by_lower = _model_tables()
    real_id = by_lower.get(model_id.strip().lower())
    return models[real_id] if real_id else None
