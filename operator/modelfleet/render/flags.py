"""Every command-line flag the renderer may emit, per engine and pinned version, with its source.

The rule: every flag the renderer emits must be a flag the chosen engine version accepts, or the
pod fails at start-up with an argument error. Each table below was read from the engine's own
source at the pinned release:

- vLLM 0.33.0 (PyPI wheel ``vllm-0.33.0``; upstream ``vllm-project/vllm`` tag ``v0.33.0``): flags
  registered by ``AsyncEngineArgs.add_cli_args`` in ``vllm/engine/arg_utils.py`` and the OpenAI
  server's frontend flags (``FrontendArgs`` dataclass fields and ``make_arg_parser``) in
  ``vllm/entrypoints/common/cli_args.py``.
- SGLang 0.5.23 (PyPI wheel ``sglang-0.5.23``; upstream ``sgl-project/sglang`` tag ``v0.5.23``):
  ``ServerArgs.add_cli_args`` in ``python/sglang/srt/server_args.py`` derives every flag from the
  dataclass fields in ``python/sglang/srt/arg_groups/fields/*.py`` as ``--`` + name with ``_`` -> ``-``.
- TGI 3.3.7 (``huggingface/text-generation-inference`` tag ``v3.3.7``): the launcher's flag list in
  ``docs/source/reference/launcher.md`` (generated from ``launcher/src/main.rs``).

``hack/check_engine_flags.py`` re-checks the vLLM and SGLang tables against the engines' real
argument parsers; the unit tests check that every rendered argv uses only flags listed here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from modelfleet.planner.types import Engine
from modelfleet.render.errors import RenderError

_VLLM_ARGS = "vllm/engine/arg_utils.py"
_VLLM_FRONTEND = "vllm/entrypoints/common/cli_args.py"
_VLLM_SERVE = "vllm/entrypoints/common/cli_args.py (make_arg_parser)"
_SGL_FIELDS = "python/sglang/srt/arg_groups/fields/"
_TGI_DOC = "docs/source/reference/launcher.md"


@dataclass(frozen=True)
class FlagTable:
    """The flags one engine release accepts that the renderer may emit.

    ``series`` is the version prefix the table covers ("0.33" covers 0.33.0, 0.33.1 ...);
    ``checked_against`` names the release the flags were read from; ``flags`` maps each flag to the
    upstream file that defines it.
    """

    engine: Engine
    series: str
    checked_against: str
    repository: str
    flags: Mapping[str, str]

    def covers(self, version: str) -> bool:
        return version == self.series or version.startswith(self.series + ".")


VLLM_0_33 = FlagTable(
    engine=Engine.VLLM,
    series="0.33",
    checked_against="v0.33.0",
    repository="vllm-project/vllm",
    flags=MappingProxyType(
        {
            "--served-model-name": _VLLM_ARGS,
            "--revision": _VLLM_ARGS,
            "--max-model-len": _VLLM_ARGS,
            "--quantization": _VLLM_ARGS,
            "--load-format": _VLLM_ARGS,
            "--tensor-parallel-size": _VLLM_ARGS,
            "--pipeline-parallel-size": _VLLM_ARGS,
            "--data-parallel-size": _VLLM_ARGS,
            "--enable-expert-parallel": _VLLM_ARGS,
            "--gpu-memory-utilization": _VLLM_ARGS,
            "--kv-cache-dtype": _VLLM_ARGS,
            "--trust-remote-code": _VLLM_ARGS,
            # Native multi-node (multiprocessing executor, no Ray): ParallelConfig.nnodes etc.
            "--nnodes": _VLLM_ARGS,
            "--node-rank": _VLLM_ARGS,
            "--master-addr": _VLLM_ARGS,
            "--master-port": _VLLM_ARGS,
            "--host": _VLLM_FRONTEND,
            "--port": _VLLM_FRONTEND,
            "--headless": _VLLM_SERVE,
        }
    ),
)

SGLANG_0_5 = FlagTable(
    engine=Engine.SGLANG,
    series="0.5",
    checked_against="v0.5.23",
    repository="sgl-project/sglang",
    flags=MappingProxyType(
        {
            "--model-path": _SGL_FIELDS + "model.py",
            "--revision": _SGL_FIELDS + "model.py",
            "--context-length": _SGL_FIELDS + "model.py",
            "--quantization": _SGL_FIELDS + "model.py",
            "--kv-cache-dtype": _SGL_FIELDS + "model.py",
            "--trust-remote-code": _SGL_FIELDS + "model.py",
            "--served-model-name": _SGL_FIELDS + "serving.py",
            "--host": _SGL_FIELDS + "serving.py",
            "--port": _SGL_FIELDS + "serving.py",
            "--tp-size": _SGL_FIELDS + "parallel.py",
            "--pp-size": _SGL_FIELDS + "parallel.py",
            "--dp-size": _SGL_FIELDS + "parallel.py",
            "--ep-size": _SGL_FIELDS + "parallel.py",
            "--enable-dp-attention": _SGL_FIELDS + "parallel.py",
            "--nnodes": _SGL_FIELDS + "parallel.py",
            "--node-rank": _SGL_FIELDS + "parallel.py",
            "--dist-init-addr": _SGL_FIELDS + "parallel.py",
            "--mem-fraction-static": _SGL_FIELDS + "schedule.py",
            "--enable-metrics": _SGL_FIELDS + "observability.py",
        }
    ),
)

TGI_3 = FlagTable(
    engine=Engine.TGI,
    series="3",
    checked_against="v3.3.7",
    repository="huggingface/text-generation-inference",
    flags=MappingProxyType(
        {
            "--model-id": _TGI_DOC,
            "--revision": _TGI_DOC,
            "--num-shard": _TGI_DOC,
            "--quantize": _TGI_DOC,
            "--kv-cache-dtype": _TGI_DOC,
            "--max-input-tokens": _TGI_DOC,
            "--max-total-tokens": _TGI_DOC,
            "--cuda-memory-fraction": _TGI_DOC,
            "--hostname": _TGI_DOC,
            "--port": _TGI_DOC,
            "--usage-stats": _TGI_DOC,
            "--trust-remote-code": _TGI_DOC,
        }
    ),
)

FLAG_TABLES: tuple[FlagTable, ...] = (VLLM_0_33, SGLANG_0_5, TGI_3)


def flag_table(engine: Engine, version: str) -> FlagTable:
    """The table for an engine version, or a :class:`RenderError` naming the supported series.

    >>> flag_table(Engine.VLLM, "0.33.2").checked_against
    'v0.33.0'
    """
    for table in FLAG_TABLES:
        if table.engine == engine and table.covers(version):
            return table
    supported = ", ".join(f"{t.series}.x" for t in FLAG_TABLES if t.engine == engine)
    raise RenderError(
        f"engine.version {version!r}: ModelFleet has no checked flag list for {engine.value} {version} "
        f"(supported: {supported}); omit engine.version to use the pinned release, or pick a supported one"
    )


def emitted_flags(argv: Iterable[str]) -> list[str]:
    """The ``--flag`` names in an argv, with any ``=value`` dropped.

    >>> emitted_flags(["vllm", "serve", "org/m", "--port=8000", "--headless"])
    ['--port', '--headless']
    """
    return [arg.split("=", 1)[0] for arg in argv if arg.startswith("--")]


def unknown_flags(table: FlagTable, argv: Iterable[str]) -> list[str]:
    """Flags in ``argv`` that the table does not list (empty when all are checked)."""
    return [flag for flag in emitted_flags(argv) if flag not in table.flags]
