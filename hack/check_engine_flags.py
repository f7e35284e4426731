#!/usr/bin/env python3
"""Check the renderer's engine command lines against the engines' real argument parsers.

    .venv/bin/python hack/check_engine_flags.py [--tgi-doc PATH] [--skip-install]

1. Creates a throwaway virtualenv ``.venv-engines/`` and installs the pinned vLLM and SGLang
   releases with ``--no-deps``, torch (PyPI only serves the CUDA build; it imports fine without a
   GPU) and the few small packages their argument parsers import.
2. Renders every engine x plan shape x model source the unit tests cover (the same matrix as
   ``tests/unit/test_render_flags.py``) and collects each pod's argv.
3. Inside ``.venv-engines`` parses every argv with the engine's own parser: vLLM's
   ``make_arg_parser(FlexibleArgumentParser())`` (which registers ``AsyncEngineArgs.add_cli_args``)
   with ``VLLM_TARGET_DEVICE=cpu``, SGLang's ``ServerArgs.add_cli_args``. Every ``--flag`` must be
   an exact option string of the parser (argparse would otherwise accept an unambiguous prefix).
4. TGI has no Python parser: with ``--tgi-doc`` pointing at the launcher reference
   (``docs/source/reference/launcher.md`` of the pinned TGI tag, or the output of
   ``text-generation-launcher --help``) each emitted flag must appear in it.

Prints one line per engine and a closing "N passed, M failed"; exits non-zero on any failure.
Not part of ``make test``: it downloads several GB into .venv-engines/.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / ".venv-engines"
# Sample values for the LWS variables Kubernetes expands in the command at run time.
LWS_VALUES = {"$(LWS_LEADER_ADDRESS)": "model-abc-0.model-abc.llm", "$(LWS_WORKER_INDEX)": "1"}
# What the parsers import beyond the engines themselves (found by importing them in a bare venv).
PARSER_IMPORTS = [
    "numpy",
    "orjson",
    "psutil",
    "pybase64",
    "requests",
    "packaging",
    "pillow",
    "starlette",
    "msgspec",
    "pydantic",
    "pyzmq",
    "tqdm",
    "IPython",
    "aiohttp",
    "regex",
    "cbor2",
    "transformers",
    "openai",
    "openai-harmony",
    "cloudpickle",
    "cachetools",
    "uvloop",
    "py-cpuinfo",
    "fastapi",
    "prometheus_client",
    "partial-json-parser",
    "xgrammar",
    "llguidance",
    "pyyaml",
]
ENGINE_PREFIX = {"vllm": 2, "sglang": 3}  # argv items before the flags: "vllm serve", "python3 -m sglang..."


def install(python: str) -> None:
    sys.path.insert(0, str(ROOT / "operator"))
    from modelfleet.planner.types import Engine
    from modelfleet.render.config import PINNED_ENGINE_VERSIONS

    if not (VENV / "bin" / "python").exists():
        subprocess.run([python, "-m", "venv", str(VENV)], check=True)
    pip = [str(VENV / "bin" / "python"), "-m", "pip", "install", "-q"]
    engines = [
        f"vllm=={PINNED_ENGINE_VERSIONS[Engine.VLLM]}",
        f"sglang=={PINNED_ENGINE_VERSIONS[Engine.SGLANG]}",
    ]
    subprocess.run([*pip, "--no-deps", *engines], check=True)
    subprocess.run([*pip, "torch==2.14.1", *PARSER_IMPORTS], check=True)


def collect_argvs() -> dict[str, list[list[str]]]:
    """Every distinct argv the renderer produces over the unit tests' matrix, per engine."""
    sys.path[:0] = [str(ROOT / "operator"), str(ROOT)]
    from modelfleet.planner.types import Engine
    from tests.unit.test_render_flags import rendered_launch_specs

    argvs: dict[str, list[list[str]]] = {}
    for engine in Engine:
        seen: set[tuple[str, ...]] = set()
        for launch in rendered_launch_specs(engine):
            for role in [launch.leader] + ([launch.worker] if launch.worker else []):
                argv = tuple(LWS_VALUES.get(a, a) for a in role.argv)
                argv = tuple(_expand(a) for a in argv)
                seen.add(argv)
        argvs[engine.value] = [list(a) for a in sorted(seen)]
    return argvs


def _expand(arg: str) -> str:
    for ref, value in LWS_VALUES.items():
        arg = arg.replace(ref, value)
    return arg


def parse_in_engine_venv(argvs_file: Path) -> dict[str, int]:
    """Runs inside .venv-engines: parse each argv with the real parsers; counts passed and failed."""
    argvs = json.loads(argvs_file.read_text())
    counts = {"passed": 0, "failed": 0}
    parsers = {"vllm": _vllm_parser, "sglang": _sglang_parser}
    for engine, make_parser in parsers.items():
        try:
            parser = make_parser()
        except Exception as error:  # noqa: BLE001 - report the import failure and go on
            print(f"{engine}: cannot build the parser: {type(error).__name__}: {error}")
            counts["failed"] += len(argvs[engine])
            continue
        failed = [argv for argv in argvs[engine] if not _parses(parser, argv[ENGINE_PREFIX[engine] :])]
        counts["failed"] += len(failed)
        counts["passed"] += len(argvs[engine]) - len(failed)
        print(
            f"{engine}: {len(argvs[engine]) - len(failed)}/{len(argvs[engine])} argv accepted by the real parser"
        )
    return counts


def _vllm_parser() -> argparse.ArgumentParser:
    from vllm.entrypoints.common.cli_args import make_arg_parser
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    return make_arg_parser(FlexibleArgumentParser())


def _sglang_parser() -> argparse.ArgumentParser:
    from sglang.srt.server_args import ServerArgs

    parser = argparse.ArgumentParser()
    ServerArgs.add_cli_args(parser)
    return parser


def _parses(parser: argparse.ArgumentParser, args: list[str]) -> bool:
    unknown = [a.split("=", 1)[0] for a in args if a.startswith("--")]
    unknown = [f for f in unknown if f not in parser._option_string_actions]
    if unknown:
        print(f"  not an option of the parser: {unknown} in {args}")
        return False
    try:
        parser.parse_args(args)
    except SystemExit:
        print(f"  rejected: {args}")
        return False
    return True


def check_tgi(argvs: list[list[str]], doc: Path | None) -> tuple[int, int]:
    if doc is None:
        print("tgi: skipped (pass --tgi-doc docs/source/reference/launcher.md of the pinned TGI tag)")
        return 0, 0
    documented = set(re.findall(r"--[a-z0-9][a-z0-9-]*", doc.read_text()))
    failed = 0
    for argv in argvs:
        missing = [
            a.split("=", 1)[0]
            for a in argv[1:]
            if a.startswith("--") and a.split("=", 1)[0] not in documented
        ]
        if missing:
            print(f"  tgi: not in the launcher doc: {missing}")
            failed += 1
    print(f"tgi: {len(argvs) - failed}/{len(argvs)} argv use only documented launcher flags")
    return len(argvs) - failed, failed


def main() -> int:
    cli = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    cli.add_argument("--tgi-doc", type=Path, help="TGI launcher reference (launcher.md or --help output)")
    cli.add_argument("--skip-install", action="store_true", help="use .venv-engines as it is")
    cli.add_argument("--python", default="python3.11", help="interpreter for the engines' venv")
    # internal: run inside .venv-engines, read argvs from --parse, write counts to --results
    cli.add_argument("--parse", type=Path, help=argparse.SUPPRESS)
    cli.add_argument("--results", type=Path, help=argparse.SUPPRESS)
    options = cli.parse_args()
    if options.parse:
        options.results.write_text(json.dumps(parse_in_engine_venv(options.parse)))
        return 0
    if not options.skip_install:
        install(options.python)
    argvs = collect_argvs()
    with tempfile.TemporaryDirectory() as scratch:
        argvs_file, results_file = Path(scratch, "argvs.json"), Path(scratch, "results.json")
        argvs_file.write_text(json.dumps(argvs))
        env = {**os.environ, "VLLM_TARGET_DEVICE": "cpu"}
        command = [
            str(VENV / "bin" / "python"),
            __file__,
            "--parse",
            str(argvs_file),
            "--results",
            str(results_file),
        ]
        subprocess.run(command, env=env, check=False)
        python_total = len(argvs["vllm"]) + len(argvs["sglang"])
        counts = (
            json.loads(results_file.read_text())
            if results_file.exists()
            else {"passed": 0, "failed": python_total}
        )
    tgi_passed, tgi_failed = check_tgi(argvs["tgi"], options.tgi_doc)
    passed, failed = counts["passed"] + tgi_passed, counts["failed"] + tgi_failed
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
