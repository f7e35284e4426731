"""A tiny Prometheus HTTP API client: one instant query -> one number (or None for no data).

``GET {base}/api/v1/query?query=...`` (https://prometheus.io/docs/prometheus/latest/querying/api/).
Only the standard library, with a timeout, so a hung Prometheus never blocks a reconcile for long.
The answer is read by the pure :mod:`modelfleet.analysis.prometheus`; every failure, of the network
or of the answer, becomes a :class:`ProviderError` whose message says what to check.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request

from modelfleet.analysis import ProviderError
from modelfleet.analysis.prometheus import error_text, read_answer

DEFAULT_TIMEOUT_SECONDS = 10.0


class PrometheusClient:
    def __init__(self, base_url: str, timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_seconds = timeout_seconds

    def query(self, promql: str) -> float | None:
        """The single value of an instant query; None when it returns no series."""
        url = f"{self.base_url}/api/v1/query?{urllib.parse.urlencode({'query': promql})}"
        return read_answer(self._get(url), self.base_url)

    def _get(self, url: str) -> str:
        request = urllib.request.Request(url, headers={"Accept": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_seconds) as response:
                return str(response.read().decode("utf-8", "replace"))
        except urllib.error.HTTPError as error:
            # Prometheus answers a bad query with 400 and a JSON body naming the problem.
            detail = error.read().decode("utf-8", "replace")
            try:
                text = error_text(json.loads(detail), self.base_url)
            except json.JSONDecodeError:
                text = detail[:200]
            raise ProviderError(f"Prometheus HTTP {error.code}: {text}") from None
        except (urllib.error.URLError, TimeoutError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise ProviderError(
                f"cannot reach Prometheus at {self.base_url}: {reason}; check the operator's "
                "Prometheus URL and network policy"
            ) from None
