"""Candidate layouts for one GPU type, and the engine / model rules each must satisfy.

Node shapes: the GPUs per node of the GPU type's nodes (from the cluster's Nodes, ``--gpus-per-node``,
or the catalog's most common shape). A replica sits on one node when a node that large exists;
otherwise it spans whole nodes of the largest shape that divides it evenly (12 GPUs on 2-GPU nodes:
6 nodes; on 8- and 4-GPU nodes: 3 nodes of 4).

Layouts for a GPU count ``n`` on nodes of ``per_node`` GPUs (unless the user pinned TP / PP):

- ``n <= largest shape``: one node, TP = n, PP = 1.
- otherwise (whole nodes only): vLLM TP = per_node, PP = n / per_node; SGLang TP = n across
  ``n / per_node`` nodes (``--nnodes``), PP = 1; TGI refuses (single node only).

Each check returns ``(category, reason)`` for the first rule broken, or None. Categories let the
planner keep one rejection per GPU type and rule instead of one per count.
"""

from __future__ import annotations

from modelfleet.catalog.types import GpuType
from modelfleet.planner.blocks import check_weight_blocks
from modelfleet.planner.context import EP_MIN_EXPERTS, Sizing
from modelfleet.planner.engines import MultiNode
from modelfleet.planner.types import Candidate, GpuPool

GPU_COUNTS = (1, 2, 4, 8, 16, 32, 64)

Problem = tuple[str, str]  # (category, reason)


def gpu_counts(sizing: Sizing) -> tuple[int, ...]:
    """GPU counts to try, ascending: the pinned count, or powers of two (plus TP x PP when both pinned)."""
    request = sizing.request
    if request.gpus_per_replica is not None:
        return (request.gpus_per_replica,)
    dp = request.data_parallel or 1
    if dp > 1:
        # DP x EP: attention TP of 1, 2, 4 or 8 per DP rank (the recipes use 1), unless TP is pinned.
        per_rank = (request.tensor_parallel,) if request.tensor_parallel else (1, 2, 4, 8)
        return tuple(dp * tp * (request.pipeline_parallel or 1) for tp in per_rank)
    tp, pp = request.tensor_parallel, request.pipeline_parallel
    if tp is not None and pp is not None:
        return (tp * pp,)
    # One pinned degree: the other one takes the usual powers of two (TP=3 tries 3, 6, 12, ...).
    pinned = tp if tp is not None else pp
    if pinned is not None:
        return tuple(pinned * k for k in GPU_COUNTS if pinned * k <= max(GPU_COUNTS[-1], pinned))
    return GPU_COUNTS


def node_shapes(gpu: GpuType, pool: GpuPool) -> tuple[int, ...]:
    """GPUs per node of ``gpu``'s nodes, distinct, largest first: the pool's, else the catalog default.

    >>> from modelfleet.catalog.types import GpuType, Vendor
    >>> nvl = GpuType("H100-NVL", Vendor.NVIDIA, 94 * 2**30, 8, "9.0", "hopper", True, False, "nvidia.com/gpu", (), 2.0)
    >>> node_shapes(nvl, GpuPool(node_shapes={"H100-NVL": (2, 2, 1)})), node_shapes(nvl, GpuPool())
    ((2, 1), (8,))
    """
    known = pool.node_shapes
    shapes = known.get(gpu.name) if known else None
    if shapes:
        return tuple(sorted({max(1, count) for count in shapes}, reverse=True))
    return (max(1, gpu.gpus_per_node),)


def gpus_per_node_for(count: int, shapes: tuple[int, ...]) -> int:
    """GPUs of one node a ``count``-GPU replica uses: all of them on one node when a node is that large,
    else the largest shape that divides ``count`` (whole nodes), else the largest shape (refused later).

    >>> gpus_per_node_for(4, (8,)), gpus_per_node_for(12, (2,)), gpus_per_node_for(12, (8, 4)), gpus_per_node_for(12, (8,))
    (4, 2, 4, 8)
    """
    if count <= shapes[0]:
        return count
    return next((shape for shape in shapes if count % shape == 0), shapes[0])


def layout(gpu: GpuType, count: int, sizing: Sizing) -> Candidate | None:
    """The layout of ``count`` GPUs honouring the pins, or None when the pins cannot use ``count``."""
    request = sizing.request
    per_node = gpus_per_node_for(max(1, count), node_shapes(gpu, sizing.request.pool))
    if (request.data_parallel or 1) > 1:
        return _data_parallel_layout(gpu, count, per_node, sizing)
    tp, pp = request.tensor_parallel, request.pipeline_parallel
    if tp is not None and pp is not None:
        pass
    elif tp is not None:
        if tp <= 0 or count % tp:
            return None
        pp = count // tp
    elif pp is not None:
        if pp <= 0 or count % pp:
            return None
        tp = count // pp
    elif count <= per_node or count % per_node or sizing.engine.multi_node is not MultiNode.PIPELINE:
        tp, pp = count, 1  # (not whole nodes: refused by the layout check, which says so)
    else:
        tp, pp = per_node, count // per_node
    nodes = -(-count // per_node) if count > per_node else 1
    return Candidate(gpu.name, count, nodes, tp, pp, 1, _expert_parallel(tp, sizing))


def _data_parallel_layout(gpu: GpuType, count: int, per_node: int, sizing: Sizing) -> Candidate | None:
    """DP x EP: ``dp`` attention ranks of TP ``count / dp`` each; routed experts over all ``count`` GPUs."""
    request = sizing.request
    dp = request.data_parallel or 1
    pp = request.pipeline_parallel or 1
    if count % (dp * pp):
        return None
    tp = request.tensor_parallel or count // (dp * pp)
    nodes = -(-count // per_node) if count > per_node else 1
    expert = sizing.is_moe and request.expert_parallel is not False
    return Candidate(gpu.name, count, nodes, tp, pp, dp, expert)


def _expert_parallel(tp: int, sizing: Sizing) -> bool:
    if not sizing.is_moe or tp <= 1:
        return False
    pinned = sizing.request.expert_parallel
    if pinned is not None:
        return pinned
    experts = sizing.routed_experts
    return sizing.engine.expert_parallel_flag is not None and experts >= EP_MIN_EXPERTS and experts % tp == 0


def check_candidate(candidate: Candidate, gpu: GpuType, sizing: Sizing) -> Problem | None:
    """The first engine or model rule ``candidate`` breaks, or None."""
    return _check_layout(candidate, gpu, sizing) or _check_model(candidate, sizing)


def _check_layout(c: Candidate, gpu: GpuType, sizing: Sizing) -> Problem | None:
    engine = sizing.engine
    name = engine.engine.value
    shapes = node_shapes(gpu, sizing.request.pool)
    per_node = c.gpus_per_replica // c.nodes_per_replica if c.nodes_per_replica > 1 else shapes[0]
    tp, pp, dp = c.tensor_parallel, c.pipeline_parallel, c.data_parallel
    if tp <= 0 or pp <= 0 or tp * pp * dp != c.gpus_per_replica:
        return "pins", (
            f"tensor_parallel {tp} x pipeline_parallel {pp}"
            + (f" x data_parallel {dp}" if dp > 1 else "")
            + f" must equal gpus_per_replica {c.gpus_per_replica}"
        )
    if dp > 1:
        problem = _check_data_parallel(c, sizing)
        if problem:
            return problem
    if c.nodes_per_replica > 1 and (c.gpus_per_replica % c.nodes_per_replica or per_node not in shapes):
        sizes = " or ".join(str(shape) for shape in shapes)
        return "layout", (
            f"{c.gpus_per_replica} GPUs do not fill whole {gpu.name} nodes of {sizes} GPUs: "
            "a multi-node replica uses every GPU of each node"
        )
    if c.nodes_per_replica > 1 and engine.multi_node is MultiNode.NONE:
        return "multi-node", (
            f"{name} runs a replica on a single node; {c.gpus_per_replica} x {gpu.name} needs "
            f"{c.nodes_per_replica} nodes: use engine vllm or sglang, or a GPU with more memory"
        )
    if pp > 1 and not engine.pipeline_parallel:
        return "pipeline", f"{name} has no pipeline parallel (PP={pp}): use engine vllm or sglang"
    if tp > per_node and engine.multi_node is not MultiNode.TENSOR:
        return "tp-per-node", (
            f"{name} keeps tensor parallel inside one node: TP={tp} > {per_node} GPUs per {gpu.name} "
            "node; spread nodes with pipeline_parallel instead"
        )
    if c.expert_parallel and engine.expert_parallel_flag is None:
        return "expert-parallel", f"{name} has no expert parallel: unset expertParallel or use vllm / sglang"
    return None


def _check_data_parallel(c: Candidate, sizing: Sizing) -> Problem | None:
    """DP x EP is a MoE layout on engines with DP attention, one pipeline stage, vLLM on one node."""
    name = sizing.engine.engine.value
    if sizing.engine.expert_parallel_flag is None:
        return (
            "data-parallel",
            f"{name} has no data-parallel attention with expert parallel: use vllm or sglang",
        )
    if not sizing.is_moe:
        return "data-parallel", (
            f"dataParallel={c.data_parallel} splits routed experts over the DP ranks, but {sizing.model.id} is "
            "dense: unset dataParallel and raise replicas for more throughput"
        )
    if not c.expert_parallel:
        return "data-parallel", "dataParallel needs expert parallel: unset expertParallel: false"
    if c.pipeline_parallel > 1:
        return (
            "data-parallel",
            "dataParallel with pipelineParallel > 1 is not planned: unset pipelineParallel",
        )
    if c.nodes_per_replica > 1 and sizing.engine.multi_node is MultiNode.PIPELINE:
        return "data-parallel", (
            f"{name} data parallel across {c.nodes_per_replica} nodes needs per-node DP start ranks that "
            "ModelFleet does not render: use engine sglang (DP attention spans nodes with --nnodes) or a "
            "layout on one node"
        )
    if sizing.expert_weight_bytes is None:
        return "data-parallel", (
            f"cannot split {sizing.model.id}'s weights into replicated and expert parts: total and active "
            "parameters, routed experts and experts per token must be known (spec.model.overrides)"
        )
    return None


def _check_model(c: Candidate, sizing: Sizing) -> Problem | None:
    model = sizing.model
    tp, pp = c.tensor_parallel, c.pipeline_parallel
    heads = model.num_attention_heads or 0
    if heads % tp:
        return "heads", f"{heads} attention heads are not divisible by TP={tp}"
    for kv_heads in sizing.kv_head_counts:
        if kv_heads % tp and tp % kv_heads:
            return "kv-heads", (
                f"{kv_heads} KV heads and TP={tp}: TP must divide the KV heads or be a multiple of them"
            )
    if model.num_layers is not None and pp > model.num_layers:
        return "pp-layers", f"PP={pp} exceeds the {model.num_layers} layers"
    return _check_mlp(c, sizing)


def _check_mlp(c: Candidate, sizing: Sizing) -> Problem | None:
    tp = c.tensor_parallel
    if c.expert_parallel:
        experts, ep = sizing.routed_experts, tp * c.data_parallel
        if experts % ep:
            return "expert-parallel", (
                f"{experts} routed experts are not divisible by the expert-parallel size {ep}"
            )
    sliced = _sliced_mlp(c, sizing)
    if sliced is None:
        return check_weight_blocks(c, sizing)
    label, width = sliced
    if width % tp:
        return "mlp", f"{label} {width} is not divisible by TP={tp}"
    return check_weight_blocks(c, sizing)


def _sliced_mlp(c: Candidate, sizing: Sizing) -> tuple[str, int] | None:
    """The MLP width TP slices: experts' width for MoE without EP, the dense width otherwise."""
    model = sizing.model
    if model.is_moe:
        if c.expert_parallel:
            return None  # whole experts per rank: nothing is sliced
        width = model.moe.expert_intermediate_size if model.moe else None
        return ("moe_intermediate_size", width) if width else None
    return ("intermediate_size", model.intermediate_size) if model.intermediate_size else None
