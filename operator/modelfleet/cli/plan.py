"""``modelfleet plan``: the GPU plan for a spec, with no cluster at all.

``-f FILE`` reads a ModelDeployment; flags override the file's values. The model's own
``config.json`` and safetensors index are read from the Hub first (``--hub-endpoint`` or
``$HF_ENDPOINT`` for a mirror, the token huggingface_hub finds: ``$HF_TOKEN`` or a login), with the
same code as the operator; ``--offline`` or ``HF_HUB_OFFLINE=1`` plans from the catalog and overrides
only, and so does a failed read (with a warning on stderr). Giving any of
``--gpus-per-replica``, ``--tensor-parallel``, ``--pipeline-parallel``, ``--data-parallel`` replaces the
file's whole layout pin (a file's ``gpusPerReplica: 8`` next to ``--tensor-parallel 4`` would otherwise contradict itself).
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
from typing import Any

from modelfleet.api.errors import SpecError
from modelfleet.api.spec import ModelDeploymentSpec, parse_spec
from modelfleet.api.spec_model import Quantization
from modelfleet.cli.common import (
    EXIT_BAD_INPUT,
    EXIT_INFEASIBLE,
    EXIT_OK,
    OUTPUT_FORMATS,
    CliError,
    print_document,
    read_manifest,
    spec_error,
)

ENGINES = ("vllm", "sglang", "tgi")
LAYOUT_FLAGS = {
    "gpus_per_replica": "gpusPerReplica",
    "tensor_parallel": "tensorParallel",
    "pipeline_parallel": "pipelineParallel",
    "data_parallel": "dataParallel",
}


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "plan",
        allow_abbrev=False,
        help="size GPUs and the parallel layout for a model",
        description="Print the GPU plan for a ModelDeployment (-f) or a model id (--model). "
        "Exit 0 when feasible, 3 when nothing fits, 2 on bad input.",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("-f", "--filename", metavar="FILE", help="ModelDeployment YAML ('-' for stdin)")
    source.add_argument("--model", metavar="ID", help="Hugging Face repo id or catalog key")
    parser.add_argument("--engine", choices=ENGINES)
    parser.add_argument(
        "--gpu", metavar="TYPE", help="auto or a catalog GPU name (see `modelfleet catalog gpus`)"
    )
    parser.add_argument("--quantization", choices=[q.value for q in Quantization])
    parser.add_argument("--max-model-len", type=int, metavar="N")
    parser.add_argument("--concurrency", type=int, metavar="N")
    parser.add_argument("--gpus-per-replica", type=int, metavar="N")
    parser.add_argument("--tensor-parallel", type=int, metavar="N")
    parser.add_argument("--pipeline-parallel", type=int, metavar="N")
    parser.add_argument(
        "--data-parallel",
        type=int,
        metavar="N",
        help="DP x EP for MoE models: N attention ranks per replica, routed experts split over all GPUs",
    )
    parser.add_argument(
        "--gpus-per-node",
        type=int,
        metavar="N",
        help="GPUs per node of your machines (e.g. 2 for H100 NVL VMs); default: the catalog's most "
        "common shape of each GPU type (see `modelfleet catalog gpus`)",
    )
    parser.add_argument(
        "--hub-endpoint",
        metavar="URL",
        help="Hub or mirror to read config.json from (default: $HF_ENDPOINT, else https://huggingface.co)",
    )
    parser.add_argument(
        "--offline",
        action="store_true",
        help="read nothing from the Hub: plan from the catalog and overrides (also: HF_HUB_OFFLINE=1)",
    )
    parser.add_argument("-o", "--output", choices=OUTPUT_FORMATS, default="table")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    spec = spec_from_args(args)
    if args.gpus_per_node is not None and args.gpus_per_node < 1:
        raise CliError(f"--gpus-per-node must be at least 1 (got {args.gpus_per_node})", EXIT_BAD_INPUT)
    return print_plan(spec, args.output, args.gpus_per_node, model_files(spec, args))


HUB_TIMEOUT_SECONDS = 10.0


def model_files(spec: ModelDeploymentSpec, args: argparse.Namespace) -> Any:
    """The model's files as the operator reads them, or None (offline, not a Hub source, or a failed
    read: then the catalog and overrides plan it, and stderr says why)."""
    if getattr(args, "offline", False) or os.environ.get("HF_HUB_OFFLINE", "").lower() in (
        "1",
        "true",
        "yes",
    ):
        return None
    from modelfleet.hub import DEFAULT_ENDPOINT, HubError, HubReader, hub_target

    target = hub_target(spec)
    if isinstance(target, str):
        print(f"note: {target}", file=sys.stderr)
        return None
    endpoint = (
        getattr(args, "hub_endpoint", None) or os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT
    ).rstrip("/")
    try:
        files = HubReader(endpoint, HUB_TIMEOUT_SECONDS, token=None).read(*target)
    except HubError as error:
        print(
            f"warning: could not read the model's files: {error}; planning from the catalog and overrides "
            "(--offline skips the Hub)",
            file=sys.stderr,
        )
        return None
    print(
        f"facts: read {', '.join(files.files)} of {files.id} at {(files.commit or '')[:12]}", file=sys.stderr
    )
    return files


def spec_from_args(args: argparse.Namespace) -> ModelDeploymentSpec:
    """The spec to plan: the file's (or a minimal one for --model), with the flags applied."""
    raw: dict[str, Any] = {"model": {"id": args.model}}
    if args.filename:
        manifest = read_manifest(args.filename)
        raw = copy.deepcopy(manifest.get("spec") or {})
        if not isinstance(raw, dict):
            raise CliError(f"{args.filename}: spec must be a mapping")
    apply_flags(raw, args)
    try:
        return parse_spec(raw)
    except SpecError as error:
        raise spec_error(error) from None


def apply_flags(raw: dict[str, Any], args: argparse.Namespace) -> None:
    """Write each given flag into the raw spec, so the same validation covers flags and files."""

    def put(section: str, key: str, value: Any) -> None:
        if value is not None:
            target = raw.setdefault(section, {})
            if not isinstance(target, dict):
                raise CliError(f"spec.{section}: must be a mapping")
            target[key] = value

    put("model", "quantization", args.quantization)
    put("engine", "name", args.engine)
    put("accelerator", "type", args.gpu)
    put("serving", "maxModelLen", args.max_model_len)
    put("serving", "concurrency", args.concurrency)
    if any(getattr(args, flag) is not None for flag in LAYOUT_FLAGS):
        accelerator = raw.setdefault("accelerator", {})
        for flag, key in LAYOUT_FLAGS.items():
            if isinstance(accelerator, dict):
                accelerator.pop(key, None)
            put("accelerator", key, getattr(args, flag))


def print_plan(
    spec: ModelDeploymentSpec, output: str, gpus_per_node: int | None = None, files: Any = None
) -> int:
    """Print the plan; the exit code says whether it is feasible.

    The licence verdict is printed too (under ``license``) but does not change the exit code: sizing
    and licence policy are separate questions, and the policy on a cluster may differ from the default.
    """
    from modelfleet.planner.report import plan_to_dict, plan_to_table

    result, facts = make_plan(spec, gpus_per_node, files)
    licence = license_verdict(spec, facts)
    if output == "table":
        print(plan_to_table(result))
        print(f"licence: {licence['message']}")
    else:
        print_document({**plan_to_dict(result), "license": licence}, output)
    return EXIT_OK if result.feasible else EXIT_INFEASIBLE


def make_plan(
    spec: ModelDeploymentSpec, gpus_per_node: int | None = None, files: Any = None
) -> tuple[Any, Any]:
    """The planner's Plan and the model facts it used (from the catalog, ``files`` read from the Hub,
    and overrides), with catalog lookups turned into CLI errors.

    ``gpus_per_node`` sets the node shape of every GPU type (no cluster to read it from).
    """
    from modelfleet.api.to_request import UnknownModelError, plan_request_from_spec
    from modelfleet.catalog import CatalogError, get_gpu, gpu_catalog
    from modelfleet.planner import GpuPool, plan

    if spec.accelerator.type != "auto":
        try:
            get_gpu(spec.accelerator.type)
        except (CatalogError, LookupError) as error:
            raise CliError(f"spec.accelerator.type: {_message(error)}", EXIT_BAD_INPUT) from None
    pool = None
    if gpus_per_node is not None:
        pool = GpuPool(node_shapes={name: (gpus_per_node,) for name in gpu_catalog()})
    try:
        request, facts = plan_request_from_spec(spec, pool, files=files)
    except UnknownModelError as error:
        raise CliError(f"spec.model.id: {error}", EXIT_INFEASIBLE) from None
    except SpecError as error:
        raise spec_error(error) from None
    return plan(request, facts, gpu_catalog()), facts


def license_verdict(spec: ModelDeploymentSpec, facts: Any) -> dict[str, Any]:
    """The default licence policy's decision, as the operator would record it in LicenseAccepted."""
    from modelfleet.catalog import LicensePolicy, evaluate_license

    decision = evaluate_license(LicensePolicy(), facts.license, spec.model.license_accepted, spec.model.id)
    return {
        "id": facts.license,
        "allowed": decision.allowed,
        "reason": decision.reason,
        "message": decision.message,
    }


def _message(error: Exception) -> str:
    # KeyError wraps its message in quotes; the others print as written.
    return str(error.args[0]) if error.args else type(error).__name__
