"""One command-line builder per engine, behind one lookup.

Each engine module knows its flags, its health path, and whether worker pods of a multi-node
replica answer HTTP probes; everything else about a pod is the same for every engine.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from modelfleet.planner.types import Engine
from modelfleet.render.engines import sglang, tgi, vllm
from modelfleet.render.engines.base import Shutdown
from modelfleet.render.inputs import EngineInputs, Role


@dataclass(frozen=True)
class EngineProfile:
    engine: Engine
    argv: Callable[[EngineInputs, Role], tuple[str, ...]]
    health_path: str
    workers_serve_health: bool  # SGLang ranks > 0 run a health server; vLLM headless ranks do not
    shutdown: Shutdown


PROFILES: dict[Engine, EngineProfile] = {
    Engine.VLLM: EngineProfile(
        Engine.VLLM, vllm.argv, vllm.HEALTH_PATH, workers_serve_health=False, shutdown=vllm.SHUTDOWN
    ),
    Engine.SGLANG: EngineProfile(
        Engine.SGLANG, sglang.argv, sglang.HEALTH_PATH, workers_serve_health=True, shutdown=sglang.SHUTDOWN
    ),
    Engine.TGI: EngineProfile(
        Engine.TGI, tgi.argv, tgi.HEALTH_PATH, workers_serve_health=False, shutdown=tgi.SHUTDOWN
    ),
}


def profile(engine: Engine) -> EngineProfile:
    return PROFILES[Engine(engine)]
