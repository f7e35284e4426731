"""The inventory sums kept per snapshot give exactly what summing every pod each time gives."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from modelfleet.decide.inventory import NodeGpus, PodGpus, allocated_gpus_by_type, free_gpus_per_node

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
        node=st.sampled_from([f"n{i}" for i in range(7)]),
        resource=st.just("nvidia.com/gpu"),
        count=st.integers(1, 4),
        owner=st.sampled_from(OWNERS),
    ),
    max_size=20,
)


@settings(max_examples=300, deadline=None)
@given(nodes_st, pods_st, st.sampled_from([*OWNERS, "c/none"]))
def test_snapshot_sums_equal_a_full_recount(
    nodes: list[NodeGpus], pods: list[PodGpus], owner: str | None
) -> None:
    snapshot_nodes, snapshot_pods = tuple(nodes), tuple(pods)
    for _ in range(2):  # the second call answers from what the first one summed
        assert free_gpus_per_node(snapshot_nodes, snapshot_pods, exclude_owner=owner) == free_gpus_per_node(
            list(nodes), list(pods), exclude_owner=owner
        )
        assert allocated_gpus_by_type(snapshot_nodes, snapshot_pods) == allocated_gpus_by_type(
            list(nodes), list(pods)
        )


def test_a_new_snapshot_is_summed_again() -> None:
    node = (NodeGpus("n0", "L4", "p", "nvidia.com/gpu", 4, True),)
    assert free_gpus_per_node(node, (PodGpus("n0", "nvidia.com/gpu", 1, "a/m"),)) == {"L4": (3,)}
    assert free_gpus_per_node(node, (PodGpus("n0", "nvidia.com/gpu", 3, "a/m"),)) == {"L4": (1,)}
    assert free_gpus_per_node(node, (PodGpus("n0", "nvidia.com/gpu", 3, "a/m"),), exclude_owner="a/m") == {
        "L4": (4,)
    }
