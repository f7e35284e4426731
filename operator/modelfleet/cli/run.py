"""``modelfleet run``: the operator; the only command that loads kopf and the Kubernetes client."""

from __future__ import annotations

import argparse
import logging
from typing import TYPE_CHECKING

from modelfleet.cli.common import EXIT_BAD_INPUT, CliError

if TYPE_CHECKING:  # the operator's modules load only when it runs (`modelfleet --help` stays light)
    from modelfleet.reconcile.config import OperatorConfig


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "run",
        allow_abbrev=False,
        help="run the operator (watches ModelDeployments and reconciles them)",
        description="Run the ModelFleet operator against the cluster in $KUBECONFIG, or in-cluster.",
    )
    parser.add_argument(
        "--config", metavar="FILE", help="operator configuration (YAML); see docs/operator.md"
    )
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument(
        "-n",
        "--namespace",
        action="append",
        dest="namespaces",
        metavar="NS",
        help="watch only this namespace (repeatable); default: every namespace",
    )
    scope.add_argument(
        "-A", "--all-namespaces", action="store_true", help="watch every namespace (the default)"
    )
    parser.add_argument(
        "--kubeconfig", metavar="FILE", help="kubeconfig (default: in-cluster, then $KUBECONFIG)"
    )
    parser.add_argument(
        "--metrics-address", metavar="ADDR", help="bind address of /metrics (default 127.0.0.1)"
    )
    parser.add_argument("--metrics-port", type=int, metavar="PORT", help="port of /metrics; 0 disables it")
    parser.add_argument(
        "--liveness", metavar="URL", help="serve kopf's liveness probe, e.g. http://0.0.0.0:8081/healthz"
    )
    parser.add_argument("--prometheus-url", metavar="URL", help="Prometheus for canary analysis")
    parser.add_argument("--workers", type=int, metavar="N", help="concurrent reconciles (default 8)")
    parser.add_argument(
        "--leader-elect",
        action="store_true",
        help="run for the leader-election Lease first and reconcile only while holding it "
        "(leaderElection.enabled in the configuration; timings there)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from modelfleet.reconcile.operator import run as run_operator

    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for noisy in ("kopf.objects", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return run_operator(operator_config(args), kubeconfig=args.kubeconfig, liveness=args.liveness)


def operator_config(args: argparse.Namespace) -> OperatorConfig:
    """The configuration file with the flags on top; a bad file or value is a CliError naming it."""
    from pydantic import ValidationError

    from modelfleet.reconcile.config import load_config

    overrides: dict[str, object] = {"namespaces": args.namespaces, "workers": args.workers}
    metrics: dict[str, object] = {}
    if args.metrics_address is not None:
        metrics["address"] = args.metrics_address
    if args.metrics_port is not None:
        metrics["port"] = args.metrics_port
    try:
        config = load_config(args.config, overrides)
        if metrics:
            config = config.model_copy(update={"metrics": config.metrics.model_copy(update=metrics)})
        if args.leader_elect:
            config = config.model_copy(
                update={"leader_election": config.leader_election.model_copy(update={"enabled": True})}
            )
        if args.prometheus_url:
            config = config.model_copy(
                update={"prometheus": config.prometheus.model_copy(update={"url": args.prometheus_url})}
            )
    except (OSError, ValueError, ValidationError) as error:
        raise CliError([f"--config: {error}"], EXIT_BAD_INPUT) from None
    return config
