"""An invariant checker that samples the cluster in a background thread while faults are injected.

Every sample reads, per namespace, the ModelDeployments and HTTPRoutes, then the Deployments and
Services, then the ModelDeployments and HTTPRoutes again. A fact about a ModelDeployment (or a
route) is judged only when its resourceVersion did not move across the reads, so the Deployments
were read while that status (or route) was current: a skew between two reads is never reported
as a broken invariant, and a real one is (the operator writes children first and status last).

Broken invariants (each one recorded with the time and the object):

* a canary with weight > 0 whose Deployment has fewer Ready replicas than that weight needs
  (``min(its replicas, the replicas the weight stands for)``, at least 1);
* an HTTPRoute the operator owns whose backend weights do not sum to 100, or that sends weight to
  a revision without a Ready pod;
* one revision both stable and canary, or a stable revision that was replaced and comes back;
* ``status.observedGeneration`` going backwards or past ``metadata.generation``;
* a Deployment or Service with our labels whose owner ModelDeployment is gone for longer than the
  garbage collector needs (``gc_grace_seconds``);
* a user object (PVC, Secret, HTTPRoute with our labels but not owned by us) deleted or replaced.

Reads that fail (the API server restarting, etcd paused) are counted as ``unavailable``, not as
violations.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from tests.reliability.reader import MD_PATH, Reader, Unavailable

Obj = dict[str, Any]


def weight_needs_replicas(weight_percent: int, desired_replicas: int, provider: str) -> int:
    """Ready canary replicas that can carry `weight_percent` of the traffic of `desired_replicas`.

    The replica-ratio provider rounds half up (it *is* the replica ratio); an exact-weight provider
    needs enough pods for the share (rounded up). Always at least 1, never more than desired.

    >>> weight_needs_replicas(50, 2, "replicas"), weight_needs_replicas(50, 3, "replicas")
    (1, 2)
    >>> weight_needs_replicas(10, 4, "gatewayAPI"), weight_needs_replicas(100, 4, "gatewayAPI")
    (1, 4)
    """
    desired = max(1, desired_replicas)
    share = desired * weight_percent / 100
    needed = math.floor(share + 0.5) if provider == "replicas" else math.ceil(share)
    return min(desired, max(1, needed))


def _meta(obj: Obj) -> Obj:
    return dict(obj.get("metadata") or {})


def _controller_uid(obj: Obj) -> str | None:
    for ref in _meta(obj).get("ownerReferences") or []:
        if ref.get("controller") and ref.get("kind") == "ModelDeployment":
            return str(ref.get("uid"))
    return None


@dataclass
class Snapshot:
    namespace: str
    mds: dict[str, Obj]  # name -> object, only those whose resourceVersion held across the reads
    routes: dict[str, Obj]  # same for HTTPRoutes
    all_md_uids: set[str]
    route_names: set[str]  # every route the operator owns, changed or not
    deployments: list[Obj]
    services: list[Obj]


@dataclass
class InvariantChecker:
    reader: Reader
    namespaces: tuple[str, ...]
    interval_seconds: float = 0.5
    gc_grace_seconds: float = 45.0
    stable_may_return: bool = False  # a test that sets an old revision again may see it stable again
    violations: list[str] = field(default_factory=list)
    samples: int = 0
    unavailable: int = 0
    skipped: int = 0  # objects not judged in a sample because they changed while it was read
    slowest_sample_seconds: float = 0.0
    last_unavailable: str = ""  # why the last unavailable sample failed

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="invariant-checker", daemon=True)
        self._began = time.monotonic()
        self._user_objects: dict[str, str] = {}  # API path -> uid
        self._orphans_since: dict[
            tuple[str, str], float
        ] = {}  # (namespace, child uid) -> first seen orphaned
        self._stables: dict[str, list[str]] = {}  # md uid -> stable revisions in order
        self._generations: dict[str, int] = {}  # md uid -> last observedGeneration
        self._lock = threading.Lock()

    # ---- lifecycle ----------------------------------------------------------------------------------
    def __enter__(self) -> InvariantChecker:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)

    def protect(self, path: str) -> None:
        """Remember a user object (by API path) that must survive with the same uid."""
        obj = self.reader.get(path)
        assert obj is not None, f"{path} does not exist"
        with self._lock:
            self._user_objects[path] = _meta(obj)["uid"]

    def summary(self) -> str:
        return (
            f"{self.samples} samples (slowest {self.slowest_sample_seconds:.1f}s; {self.unavailable} with the "
            f"API unavailable; {self.skipped} objects skipped mid-change), {len(self.violations)} violations"
        )

    def assert_held(self, min_samples: int = 3) -> None:
        """No violation, from enough samples that the checker was really watching."""
        assert not self.violations, "\n".join([self.summary(), *self.violations[:40]])
        assert self.samples >= min_samples, f"the checker took too few samples to judge: {self.summary()}"

    # ---- sampling -------------------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.sample()
            except Unavailable as error:
                self.unavailable += 1
                self.last_unavailable = str(error)[:200]
            except Exception as error:  # the checker's own failure must fail the test, not end the thread
                self._violation(f"checker failed: {error!r}")
            self._stop.wait(self.interval_seconds)

    def sample(self) -> None:
        began = time.monotonic()
        with self._lock:
            snapshots = [self._read(namespace) for namespace in self.namespaces]
            for snap in snapshots:
                self._check_mds(snap)
                self._check_routes(snap)
                self._check_orphans(snap)
            self._check_user_objects()
            self.samples += 1
            self.slowest_sample_seconds = max(self.slowest_sample_seconds, time.monotonic() - began)

    def _read(self, namespace: str) -> Snapshot:
        mds_before = {_meta(m)["name"]: m for m in self.reader.mds(namespace)}
        routes_before = {_meta(r)["name"]: r for r in self.reader.routes(namespace) if _controller_uid(r)}
        deployments = self.reader.deployments(namespace)
        services = self.reader.services(namespace)
        mds_after = {_meta(m)["name"]: m for m in self.reader.mds(namespace)}
        routes_after = {_meta(r)["name"]: r for r in self.reader.routes(namespace) if _controller_uid(r)}
        stable_mds = self._unchanged(mds_before, mds_after)
        stable_routes = self._unchanged(routes_before, routes_after)
        uids = {_meta(m)["uid"] for m in (*mds_before.values(), *mds_after.values())}
        return Snapshot(
            namespace,
            stable_mds,
            stable_routes,
            uids,
            set(routes_before) | set(routes_after),
            deployments,
            services,
        )

    def _unchanged(self, before: dict[str, Obj], after: dict[str, Obj]) -> dict[str, Obj]:
        same = {
            name: obj
            for name, obj in before.items()
            if name in after
            and _meta(after[name]).get("resourceVersion") == _meta(obj).get("resourceVersion")
        }
        self.skipped += len(before) - len(same)
        return same

    def _violation(self, message: str) -> None:
        self.violations.append(f"{time.monotonic() - self._began:7.1f}s {message}")

    # ---- the invariants ---------------------------------------------------------------------------
    def _check_mds(self, snap: Snapshot) -> None:
        for name, md in snap.mds.items():
            where = f"{snap.namespace}/{name}"
            meta, spec, status = _meta(md), md.get("spec") or {}, md.get("status") or {}
            self._check_generation(where, meta, status)
            revisions = status.get("revisions") or {}
            stable, canary = revisions.get("stable"), revisions.get("canary")
            if stable and stable == canary:
                self._violation(f"{where}: revision {stable} is both stable and canary")
            self._check_stable_history(where, meta["uid"], stable)
            if status.get("observedGeneration") == meta.get("generation"):
                self._check_canary_weight(snap, where, name, spec, status)

    def _check_generation(self, where: str, meta: Obj, status: Obj) -> None:
        observed, generation = status.get("observedGeneration"), int(meta.get("generation") or 0)
        if observed is None:
            return
        if observed > generation:
            self._violation(f"{where}: observedGeneration {observed} > generation {generation}")
        last = self._generations.get(meta["uid"], 0)
        if observed < last:
            self._violation(f"{where}: observedGeneration went back from {last} to {observed}")
        self._generations[meta["uid"]] = max(last, observed)

    def _check_stable_history(self, where: str, uid: str, stable: str | None) -> None:
        if not stable:
            return
        history = self._stables.setdefault(uid, [])
        if history and history[-1] == stable:
            return
        if stable in history and not self.stable_may_return:
            self._violation(
                f"{where}: revision {stable} is stable again after {history[-1]} was "
                f"(stable history {history})"
            )
        history.append(stable)

    def _check_canary_weight(self, snap: Snapshot, where: str, name: str, spec: Obj, status: Obj) -> None:
        rollout = status.get("rollout") or {}
        weight = int(rollout.get("weight") or 0)
        canary = (status.get("revisions") or {}).get("canary") or rollout.get("canaryRevision")
        if weight <= 0 or not canary:
            return
        deployment = next(
            (
                d
                for d in snap.deployments
                if (_meta(d).get("labels") or {}).get("modelfleet.io/revision") == canary
                and (_meta(d).get("labels") or {}).get("modelfleet.io/name") == name
            ),
            None,
        )
        if deployment is None:
            self._violation(f"{where}: canary {canary} has weight {weight} and no Deployment")
            return
        routing = ((spec.get("rollout") or {}).get("canary") or {}).get("trafficRouting") or {}
        provider = (
            "gatewayAPI" if routing.get("provider") != "replicas" and name in snap.route_names else "replicas"
        )
        needed = weight_needs_replicas(weight, int(spec.get("replicas", 1)), provider)
        running = int((deployment.get("spec") or {}).get("replicas", 0))
        ready = int((deployment.get("status") or {}).get("readyReplicas") or 0)
        if ready < min(running, needed):
            self._violation(
                f"{where}: canary {canary} has weight {weight} with {ready} Ready of {running} "
                f"replicas (the weight needs {needed})"
            )

    def _check_routes(self, snap: Snapshot) -> None:
        ready = {
            _meta(d)["name"]: int((d.get("status") or {}).get("readyReplicas") or 0) for d in snap.deployments
        }
        for name, route in snap.routes.items():
            for index, rule in enumerate((route.get("spec") or {}).get("rules") or []):
                refs = rule.get("backendRefs") or []
                if not refs:
                    continue
                weights = {str(ref.get("name")): int(ref.get("weight", 1)) for ref in refs}
                if sum(weights.values()) != 100:
                    self._violation(
                        f"{snap.namespace}/{name}: route rule {index} weights sum to "
                        f"{sum(weights.values())}: {weights}"
                    )
                for service, weight in weights.items():
                    if weight > 0 and ready.get(service, 0) < 1:
                        self._violation(
                            f"{snap.namespace}/{name}: route sends {weight}% to {service}, "
                            f"which has no Ready pod"
                        )

    def _check_orphans(self, snap: Snapshot) -> None:
        now = time.monotonic()
        seen: set[tuple[str, str]] = set()
        for child in (*snap.deployments, *snap.services):
            meta = _meta(child)
            owner = _controller_uid(child)
            if owner is not None and owner in snap.all_md_uids:
                continue
            key = (snap.namespace, meta["uid"])
            seen.add(key)
            first = self._orphans_since.setdefault(key, now)
            if now - first > self.gc_grace_seconds:
                self._violation(
                    f"{snap.namespace}: {child.get('kind')} {meta['name']} is orphaned (owner "
                    f"{owner or 'none'} gone) for {now - first:.0f}s"
                )
                self._orphans_since[key] = now  # report again only after another grace period
        for key in [k for k in self._orphans_since if k[0] == snap.namespace and k not in seen]:
            del self._orphans_since[key]

    def _check_user_objects(self) -> None:
        for path, uid in list(self._user_objects.items()):
            obj = self.reader.get(path)
            if obj is None:
                self._violation(f"user object {path} was deleted")
            elif _meta(obj)["uid"] != uid:
                self._violation(f"user object {path} was replaced (uid {uid} -> {_meta(obj)['uid']})")

    # ---- at the end --------------------------------------------------------------------------------
    def wait_quiet(self, timeout_seconds: float = 60) -> None:
        """Wait until every ModelDeployment's status is for its current generation; record one that is not."""
        deadline = time.monotonic() + timeout_seconds
        stale: list[str] = []
        while time.monotonic() < deadline:
            try:
                stale = [
                    f"{ns}/{_meta(m)['name']}: observedGeneration "
                    f"{(m.get('status') or {}).get('observedGeneration')} < generation {_meta(m)['generation']}"
                    for ns in self.namespaces
                    for m in self.reader.mds(ns)
                    if (m.get("status") or {}).get("observedGeneration") != _meta(m)["generation"]
                ]
            except Unavailable:
                stale = ["API server unavailable"]
            if not stale:
                return
            time.sleep(0.5)
        for line in stale:
            self._violation(f"status older than its generation once quiet: {line}")


def md_path(namespace: str, name: str) -> str:
    return f"{MD_PATH.format(namespace=namespace)}/{name}"
