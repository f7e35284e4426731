"""The sums an Inventory makes once give what counting every pod for each question gives."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelfleet.decide.inventory import Inventory, NodeGpus, PodGpus

OWNERS = [None, "a/m1", "a/m2", "b/m1"]
nodes_st = st.lists(
    st.builds(
        NodeGpus,
        name=st.sampled_from([f"n{i}" for i in range(6)]),
        gpu_type=st.sampled_from([None, "L4", "H100-80GB"]),
        product=st.just("p"),
        resource=st.just("nvidia.com/gpu"),
        allocatable=st.integers(0, 8),
        schedulable=st.booleans(),
    ),
    max_size=6,
    unique_by=lambda n: n.name,
)
pods_st = st.lists(
    st.builds(
        PodGpus,
        node=st.sampled_from([f"n{i}" for i in range(7)]),  # n6: a pod on a node that is gone
        resource=st.just("nvidia.com/gpu"),
        count=st.integers(1, 4),
        owner=st.sampled_from(OWNERS),
    ),
    max_size=20,
)


def recount_free(nodes: list[NodeGpus], pods: list[PodGpus]) -> dict[str, tuple[int, ...]]:
    """Free GPUs per schedulable node by type, counted pod by pod: the definition the sums must keep."""
    free: dict[str, list[int]] = {}
    for node in nodes:
        if node.gpu_type is not None and node.schedulable:
            bound = sum(pod.count for pod in pods if pod.node == node.name)
            free.setdefault(node.gpu_type, []).append(max(0, node.allocatable - bound))
    return {gpu: tuple(sorted(counts, reverse=True)) for gpu, counts in sorted(free.items())}


@settings(max_examples=300, deadline=None)
@given(nodes_st, pods_st, st.sampled_from([*OWNERS, "c/none"]))
def test_free_gpus_without_an_owner_are_those_of_the_fleet_without_its_pods(
    nodes: list[NodeGpus], pods: list[PodGpus], owner: str | None
) -> None:
    inventory = Inventory(tuple(nodes), tuple(pods))
    others = [pod for pod in pods if owner is None or pod.owner != owner]
    for _ in range(2):  # asking again answers from the same sums
        assert inventory.free_per_node(exclude_owner=owner) == recount_free(nodes, others)
        assert inventory.free_per_node() == recount_free(nodes, pods)


@settings(max_examples=200, deadline=None)
@given(nodes_st, pods_st)
def test_allocated_gpus_count_only_modelfleet_pods_by_the_type_of_their_node(
    nodes: list[NodeGpus], pods: list[PodGpus]
) -> None:
    node_type = {node.name: node.gpu_type or node.product for node in nodes}
    expected: dict[str, int] = {}
    for pod in pods:
        if pod.owner is not None:
            gpu = node_type.get(pod.node, "unknown")
            expected[gpu] = expected.get(gpu, 0) + pod.count
    assert Inventory(tuple(nodes), tuple(pods)).allocated_by_type() == expected


L4 = NodeGpus("n0", "L4", "p", "nvidia.com/gpu", 4, True)


@pytest.mark.parametrize(
    ("pods", "exclude_owner", "free"),
    [
        ((), None, {"L4": (4,)}),
        ((PodGpus("n0", "nvidia.com/gpu", 1, "a/m"),), None, {"L4": (3,)}),
        ((PodGpus("n0", "nvidia.com/gpu", 3, "a/m"),), None, {"L4": (1,)}),
        ((PodGpus("n0", "nvidia.com/gpu", 3, "a/m"),), "a/m", {"L4": (4,)}),  # re-planning itself
        ((PodGpus("n0", "nvidia.com/gpu", 3, "a/m"),), "b/m", {"L4": (1,)}),
        (
            (PodGpus("n0", "nvidia.com/gpu", 3, None), PodGpus("n0", "nvidia.com/gpu", 3, None)),
            None,
            {"L4": (0,)},
        ),
    ],
)
def test_free_gpus_of_one_l4_node(pods: tuple[PodGpus, ...], exclude_owner: str | None, free: dict) -> None:
    assert Inventory((L4,), pods).free_per_node(exclude_owner=exclude_owner) == free


def test_an_answer_handed_out_cannot_change_the_inventory() -> None:
    inventory = Inventory((L4,), (PodGpus("n0", "nvidia.com/gpu", 1, "a/m"),))
    inventory.free_per_node()["L4"] = (0,)
    inventory.allocated_by_type()["L4"] = 99
    assert inventory.free_per_node() == {"L4": (3,)}
    assert inventory.allocated_by_type() == {"L4": 1}


def test_an_inventory_is_frozen() -> None:
    with pytest.raises(AttributeError):
        Inventory((L4,)).pods = ()  # type: ignore[misc]
