"""`modelfleet run`: start the operator (kopf) with the reconciler wired in."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
from collections.abc import Callable
from typing import Any

import kopf

from modelfleet import __version__
from modelfleet.catalog import gpu_catalog, license_catalog, model_catalog
from modelfleet.catalog.license import LicensePolicy
from modelfleet.decide import Context
from modelfleet.reconcile.config import OperatorConfig
from modelfleet.reconcile.discovery import ModelDiscovery, secret_value
from modelfleet.reconcile.events import EventSink
from modelfleet.reconcile.handlers import register
from modelfleet.reconcile.informer import Informer
from modelfleet.reconcile.kube import ApiError, Kube
from modelfleet.reconcile.leader import Candidate, Fence
from modelfleet.reconcile.leadership import (
    EXIT_LEASE_LOST,
    Leadership,
    identity,
    lease_namespace,
    standby_health,
    timing,
)
from modelfleet.reconcile.measure import PrometheusMeasure
from modelfleet.reconcile.metrics import OperatorMetrics
from modelfleet.reconcile.reconciler import Reconciler
from modelfleet.reconcile.watches import informers
from modelfleet.reconcile.worker import Workers
from modelfleet.render.config import CacheDefaults
from modelfleet.render.config import OperatorConfig as RenderConfig
from modelfleet.render.memo import RenderMemo
from modelfleet.render.templating import compile_templates

log = logging.getLogger("modelfleet")


def license_policy(config: OperatorConfig) -> LicensePolicy:
    default = LicensePolicy()
    lp = config.license_policy
    return LicensePolicy(
        allowed=list(lp.allowed),
        require_acceptance=list(lp.require_acceptance)
        if lp.require_acceptance is not None
        else list(default.require_acceptance),
        refused=list(lp.refused) if lp.refused is not None else list(default.refused),
        allow_unknown=lp.allow_unknown if lp.allow_unknown is not None else default.allow_unknown,
    )


def render_config(config: OperatorConfig) -> RenderConfig:
    """Engine image overrides: `vllm: IMAGE` for every GPU vendor, `vllm/amd: IMAGE` for one."""
    templates = dict(RenderConfig().image_templates)
    for key, image in config.engine_images.items():
        engine, _, vendor = key.partition("/")
        for engine_vendor in list(templates):
            if engine_vendor[0].value == engine and (not vendor or engine_vendor[1].value == vendor):
                templates[engine_vendor] = image
    cache = config.cache
    defaults = CacheDefaults()
    return RenderConfig(
        image_templates=templates,
        prometheus_url=config.prometheus.url,
        cache=CacheDefaults(
            mode=cache.mode,
            storage_class_name=cache.storage_class_name,
            retain=cache.retain,
            fetch_image=cache.fetch_image or defaults.fetch_image,
            fetch_service_account=cache.fetch_service_account,
            hf_endpoint=cache.hf_endpoint,
            backoff_limit=cache.backoff_limit,
        ),
    )


def crd_installed(kube: Kube, name: str) -> bool:
    try:
        return kube.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", None, name) is not None
    except ApiError as error:
        if error.status == 403:  # no right to read CRDs: assume absent, say so
            log.warning("cannot read CRD %s (403); assuming it is not installed", name)
            return False
        raise


def read_secret(kube: Kube, namespace: str, name: str, key: str) -> str | None:
    """A key of a Secret (the Hub token the pods use too); PermissionError when RBAC forbids it."""
    try:
        return secret_value(kube.get("v1", "Secret", namespace, name), key)
    except ApiError as error:
        if error.status == 403:
            raise PermissionError(f"403 reading Secret {namespace}/{name}") from None
        raise


class NoDiffBase(kopf.DiffBaseStorage):
    """No diff-base at all. kopf builds one (a deep copy of the object) on every watch event, for
    on.create/update handlers and daemons; this operator registers none (see :mod:`.handlers`), so
    the copy of every pod and Deployment event would be pure waste, and nothing is ever stored."""

    def build(self, *, body: kopf.Body, extra_fields: Any = None) -> kopf.BodyEssence:
        return kopf.BodyEssence()

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        return None

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: kopf.BodyEssence) -> None:
        return None


def warm_up() -> None:
    """Read the catalogs and compile the templates before the first watch event, so the first
    reconciles (a whole fleet's, after a restart) do not each wait on it."""
    gpu_catalog()
    model_catalog()
    license_catalog()
    compile_templates()


WatchFn = Callable[[asyncio.AbstractEventLoop], list[Informer]]


def build(
    config: OperatorConfig, kube: Kube
) -> tuple[kopf.OperatorRegistry, Workers, OperatorMetrics, EventSink, WatchFn]:
    gateway_api = (
        config.gateway_api
        if config.gateway_api is not None
        else crd_installed(kube, "httproutes.gateway.networking.k8s.io")
    )
    lws = (
        config.leader_worker_set
        if config.leader_worker_set is not None
        else crd_installed(kube, "leaderworkersets.leaderworkerset.x-k8s.io")
    )
    keda = config.keda if config.keda is not None else crd_installed(kube, "scaledobjects.keda.sh")
    warm_up()
    metrics = OperatorMetrics()
    context = Context(
        license_policy=license_policy(config),
        render=render_config(config),
        gateway_api=gateway_api,
        lws=lws,
        keda=keda,
        memo=RenderMemo(),  # one per operator: every reconcile thread renders through it
    )
    measure = (
        PrometheusMeasure(config.prometheus.url, config.prometheus.timeout_seconds)
        if config.prometheus.url
        else None
    )
    events = EventSink(
        kube.create,
        lambda namespace, name, patch: kube.patch("v1", "Event", namespace, name, patch),
        qps=config.events.qps,
        burst=config.events.burst,
    )
    discovery = ModelDiscovery(config.model_discovery, lambda ns, name, key: read_secret(kube, ns, name, key))
    log.info("model discovery %s", f"from {discovery.endpoint}" if config.model_discovery.enabled else "off")
    reconciler = Reconciler(kube, context, metrics, measure=measure, events=events, discovery=discovery)
    workers = Workers(
        reconciler,
        workers=config.workers,
        resync_seconds=config.resync_seconds,
        lws_enabled=lws,
        on_forget=reconciler.forget,
    )
    registry = kopf.OperatorRegistry()
    register(registry, workers)

    def watch(loop: asyncio.AbstractEventLoop) -> list[Informer]:
        # A client of their own: the watches hold their connections open.
        reader = Kube.from_environment(user_agent=kube.user_agent)
        return informers(
            reader,
            workers,
            loop,
            config.namespaces,
            gateway_api=gateway_api,
            lws=lws,
            keda=keda,
            timeout_seconds=config.watch.server_timeout_seconds,
        )

    log.info(
        "gateway API %s, LeaderWorkerSet %s, KEDA %s",
        *("on" if found else "off" for found in (gateway_api, lws, keda)),
    )
    return registry, workers, metrics, events, watch


# Python's cyclic garbage collector, tuned for a heap of JSON-shaped objects (watch events, the
# informers' summaries, the render memo), which hold no reference cycles. With the defaults (a young
# collection every 700 allocations, a full one each time the heap grew by a quarter) the collector
# took ~9 % of the operator's CPU while 1,000 ModelDeployments converged, and every full collection
# walks the whole heap: a cost that grows with N. Young collections now run every 50,000 allocations
# and a full one after 200 of them (about an hour and a half under that load).
GC_THRESHOLDS = (50_000, 20, 10)


def tune_gc() -> None:
    """Freeze what start-up loaded (modules, catalogs, templates: never garbage, so no collection walks
    it again) and collect less often (:data:`GC_THRESHOLDS`)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def run(config: OperatorConfig, kubeconfig: str | None = None, liveness: str | None = None) -> int:
    """Run until stopped (0) or, with leader election, until the Lease is lost (:data:`EXIT_LEASE_LOST`)."""
    if kubeconfig:
        os.environ["KUBECONFIG"] = kubeconfig  # both clients (ours and kopf's) read the same file
    election = config.leader_election
    me = identity()
    fence = Fence(election.renew_deadline_seconds) if election.enabled else None
    user_agent = f"modelfleet/{__version__} ({me})"  # the API server's audit log tells processes apart
    kube = Kube.from_environment(kubeconfig, guard=fence, user_agent=user_agent)
    registry, workers, metrics, events, watch = build(config, kube)
    tune_gc()
    if config.metrics.port:
        metrics.serve(config.metrics.address, config.metrics.port)
    leadership = None
    if fence is not None:
        candidate = Candidate(me, lease_namespace(election), election.lease_name, timing(election))
        # A client of its own, without the fence, with requests shorter than a renew deadline.
        leases = Kube.from_environment(
            kubeconfig, user_agent=user_agent, timeout_seconds=max(1.0, election.renew_deadline_seconds / 2)
        )
        leadership = Leadership(candidate, fence, leases, kube, metrics)
        leadership.start()
        with standby_health(liveness):
            if not leadership.wait_until_leading():
                return EXIT_LEASE_LOST
    else:
        metrics.leading(True)
    try:
        run_kopf(config, registry, workers, events, watch, liveness, leadership)
    finally:
        log.info("the operator stopped")
        if leadership is not None:
            leadership.shutdown()
    return EXIT_LEASE_LOST if leadership is not None and leadership.lost.is_set() else 0


def run_kopf(
    config: OperatorConfig,
    registry: kopf.OperatorRegistry,
    workers: Workers,
    events: EventSink,
    watch: WatchFn,
    liveness: str | None,
    leadership: Leadership | None,
) -> None:
    started: list[Informer] = []

    @kopf.on.login(registry=registry)
    def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
        # In-cluster service account first, then the kubeconfig, through the kubernetes client's loaders.
        return kopf.login_via_client(**kwargs)

    @kopf.on.startup(registry=registry)
    def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
        # Only event and index handlers are registered (handlers.py), so kopf keeps no per-handler
        # progress on the objects, and the diff-base it would keep for changing handlers is empty.
        settings.persistence.diffbase_storage = NoDiffBase()
        settings.posting.enabled = False  # we post our own Events, one per decision
        # No dynamic discovery of CRDs and namespaces: the operator's resources are fixed at start-up, and
        # scanning needs list/watch on CRDs and namespaces that a least-privilege Role does not grant.
        settings.scanning.disabled = True
        settings.watching.server_timeout = config.watch.server_timeout_seconds
        settings.watching.client_timeout = config.watch.client_timeout_seconds
        settings.execution.max_workers = max(4, config.workers)
        settings.networking.error_backoffs = [1, 2, 5, 10, 30]

    @kopf.on.startup(registry=registry)
    async def start_informers(**_: Any) -> None:
        started.extend(informer.start() for informer in watch(asyncio.get_running_loop()))

    @kopf.on.cleanup(registry=registry)
    async def stop(**_: Any) -> None:
        for informer in started:
            informer.stop()
        await workers.shutdown()
        await asyncio.to_thread(events.flush, 5.0)  # what was decided is also said
        if leadership is not None:  # hand the Lease over now: a standby need not wait for it to expire
            await asyncio.to_thread(leadership.shutdown)

    asyncio.run(
        kopf.operator(
            registry=registry,
            standalone=True,
            clusterwide=not config.namespaces,
            namespaces=list(config.namespaces),
            liveness_endpoint=liveness,
            stop_flag=leadership.stop_flag if leadership is not None else None,
        )
    )
