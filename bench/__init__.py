"""Benchmarks of ModelFleet at fleet scale against the local control plane (``python -m bench --help``).

Each scenario starts its own :class:`testbed.cluster.LocalCluster` so runs do not inherit each other's
objects, etcd history or garbage-collection work; results land in ``bench/results.json`` and
``docs/BENCHMARKS.md`` is written from them.
"""
