"""The reconcile loop's render memo: same inputs give equal, independent objects; any change renders."""

from __future__ import annotations

from modelfleet.api import parse_spec
from modelfleet.api.to_request import plan_request_from_spec
from modelfleet.catalog import get_model, gpu_catalog
from modelfleet.planner import plan as make_plan
from modelfleet.render import render_revision, revision_hash
from modelfleet.render.config import OperatorConfig
from modelfleet.render.memo import RenderMemo

CONFIG = OperatorConfig()


def plan_for(raw: dict) -> tuple:
    spec = parse_spec(raw)
    request, facts = plan_request_from_spec(spec)
    return spec, make_plan(request, facts, gpu_catalog())


SPEC = {"model": {"id": "Qwen/Qwen3.5-9B"}, "accelerator": {"type": "L4"}, "serving": {"maxModelLen": 8192}}


def render(memo: RenderMemo, spec, plan, replicas: int = 1, name: str = "m") -> list[dict]:
    return memo.revision(
        spec,
        plan,
        name=name,
        namespace="llm",
        revision=revision_hash(spec, plan),
        replicas=replicas,
        config=CONFIG,
    )


def test_a_memo_hit_equals_a_fresh_render_and_is_a_copy() -> None:
    assert get_model("Qwen/Qwen3.5-9B") is not None
    memo = RenderMemo()
    spec, plan = plan_for(SPEC)
    first = render(memo, spec, plan)
    first[0]["metadata"]["ownerReferences"] = ["mutated by the caller"]
    second = render(memo, spec, plan)
    assert memo.stats() == (1, 1)
    assert "ownerReferences" not in second[0]["metadata"]
    assert second == render_revision(
        spec, plan, name="m", namespace="llm", revision=revision_hash(spec, plan), replicas=1, config=CONFIG
    )


def test_every_input_is_part_of_the_key() -> None:
    memo = RenderMemo()
    spec, plan = plan_for(SPEC)
    other_spec, other_plan = plan_for({**SPEC, "serving": {"maxModelLen": 4096}})
    renders = [
        render(memo, spec, plan),
        render(memo, spec, plan, replicas=2),
        render(memo, spec, plan, name="n"),
        render(memo, other_spec, other_plan),
    ]
    assert memo.stats() == (0, 4)
    assert renders[1][0]["spec"]["replicas"] == 2 and renders[2][0]["metadata"]["name"].startswith("n-")
    assert "4096" in str(renders[3][0]) and "4096" not in str(renders[0][0])


def test_each_memo_is_its_own_and_clearing_forgets_everything() -> None:
    spec, plan = plan_for(SPEC)
    one, other = RenderMemo(), RenderMemo()
    render(one, spec, plan)
    render(other, spec, plan)
    assert one.stats() == (0, 1) and other.stats() == (0, 1)
    one.clear()
    render(one, spec, plan)
    assert one.stats() == (0, 1)


def test_the_oldest_entry_leaves_a_full_memo() -> None:
    spec, plan = plan_for(SPEC)
    memo = RenderMemo(max_entries=2)
    for replicas in (1, 2, 3):
        render(memo, spec, plan, replicas=replicas)
    render(memo, spec, plan, replicas=3)
    render(memo, spec, plan, replicas=1)
    assert memo.stats() == (1, 4)
