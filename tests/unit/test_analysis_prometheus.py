"""The shell's Prometheus client against a real HTTP server on loopback (no mocks)."""

from __future__ import annotations

import json
import math
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs, urlparse

import pytest

from modelfleet.analysis import ProviderError
from modelfleet.api import Verdict, parse_spec
from modelfleet.reconcile.measure import measure_templates
from modelfleet.reconcile.prometheus import PrometheusClient


class FakePrometheus(BaseHTTPRequestHandler):
    """Answers /api/v1/query like Prometheus does, chosen by the query text."""

    queries: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 - the http.server API
        url = urlparse(self.path)
        query = parse_qs(url.query).get("query", [""])[0]
        FakePrometheus.queries.append(query)
        status, body = self.answer(url.path, query)
        payload = json.dumps(body).encode() if not isinstance(body, bytes) else body
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    @staticmethod
    def answer(path: str, query: str) -> tuple[int, object]:
        if path != "/api/v1/query":
            return 404, b"404 page not found"
        vector = lambda values: {  # noqa: E731
            "status": "success",
            "data": {"resultType": "vector", "result": [{"metric": {}, "value": [1.7e9, v]} for v in values]},
        }
        answers: dict[str, tuple[int, object]] = {
            "one": (200, vector(["0.25"])),
            "none": (200, vector([])),
            "nan": (200, vector(["NaN"])),
            "two": (200, vector(["1", "2"])),
            "scalar": (200, {"status": "success", "data": {"resultType": "scalar", "result": [1.7e9, "3"]}}),
            "bad": (400, {"status": "error", "errorType": "bad_data", "error": "parse error at char 4"}),
            "status-error": (200, {"status": "error", "errorType": "timeout", "error": "query timed out"}),
            "html": (200, b"<html>login</html>"),
        }
        return answers.get(query, (500, b"unexpected"))

    def log_message(self, *args: object) -> None:  # keep test output quiet
        pass


@pytest.fixture(scope="module")
def prometheus_url() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), FakePrometheus)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_a_single_sample_is_the_value(prometheus_url: str) -> None:
    assert PrometheusClient(prometheus_url, timeout_seconds=5).query("one") == 0.25


def test_the_query_is_sent_url_encoded(prometheus_url: str) -> None:
    promql = 'sum(rate(x{a="b c"}[5m])) > 0 and on() vector(1)'
    with pytest.raises(ProviderError):
        PrometheusClient(prometheus_url, timeout_seconds=5).query(promql)  # unknown query -> HTTP 500
    assert FakePrometheus.queries[-1] == promql


def test_an_empty_vector_is_no_data(prometheus_url: str) -> None:
    assert PrometheusClient(prometheus_url, timeout_seconds=5).query("none") is None


def test_nan_comes_back_as_nan(prometheus_url: str) -> None:
    assert math.isnan(PrometheusClient(prometheus_url, timeout_seconds=5).query("nan") or 0.0)


def test_a_scalar_result_is_read(prometheus_url: str) -> None:
    assert PrometheusClient(prometheus_url, timeout_seconds=5).query("scalar") == 3.0


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("bad", "HTTP 400: bad_data: parse error at char 4"),
        ("status-error", "timeout: query timed out"),
        ("two", "returned 2 series; aggregate it"),
        ("html", "non-JSON"),
    ],
)
def test_errors_name_the_problem(prometheus_url: str, query: str, message: str) -> None:
    with pytest.raises(ProviderError, match=message):
        PrometheusClient(prometheus_url, timeout_seconds=5).query(query)


def test_connection_refused_is_a_provider_error() -> None:
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(ProviderError, match="cannot reach Prometheus"):
        PrometheusClient(f"http://127.0.0.1:{port}", timeout_seconds=2).query("one")


def test_measure_templates_runs_a_deployments_templates_against_prometheus(prometheus_url: str) -> None:
    spec = parse_spec(
        {
            "model": {"id": "deepseek-ai/DeepSeek-V4-Flash"},
            "engine": {"name": "sglang"},
            "rollout": {"analysisTemplates": [{"name": "mine", "query": "one", "max": 1}]},
        }
    )
    results = measure_templates(
        base_url=prometheus_url,
        names=["mine", "queue-depth"],
        spec=spec,
        revision="r1",
        namespace="llm",
        name="flash",
        now=datetime(2026, 5, 1, tzinfo=UTC),
        timeout_seconds=5,
    )
    assert [r.verdict for r in results] == [Verdict.SUCCESS, Verdict.ERROR]  # the fake knows only "one"
    assert results[0].value == 0.25
    assert 'sglang:num_queue_reqs{modelfleet_io_revision="r1",namespace="llm"}' in FakePrometheus.queries[-1]


def test_the_answer_readers_worked_examples_hold() -> None:
    import doctest

    import modelfleet.analysis.prometheus

    result = doctest.testmod(modelfleet.analysis.prometheus)
    assert result.attempted > 0 and result.failed == 0
