"""A tiny Prometheus HTTP API client: one instant query -> one number (or None for no data).

``GET {base}/api/v1/query?query=...`` (https://prometheus.io/docs/prometheus/latest/querying/api/).
Only the standard library, with a timeout, so a hung Prometheus never blocks a reconcile for long.
Every failure becomes a :class:`ProviderError` whose message says what to check.
"""

from __future__ import annotations

import json
import math
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from modelfleet.analysis.errors import ProviderError

DEFAULT_TIMEOUT_SECONDS = 10.0


class PrometheusClient:
    def __init__(self, base_url: str, timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_seconds = timeout_seconds

    def query(self, promql: str) -> float | None:
        """The single value of an instant query; None when it returns no series."""
        url = f"{self.base_url}/api/v1/query?{urllib.parse.urlencode({'query': promql})}"
        body = self._get(url)
        try:
            payload = json.loads(body)
        except json.JSONDecodeError:
            raise ProviderError(f"Prometheus at {self.base_url} returned non-JSON: {body[:200]!r}") from None
        if not isinstance(payload, dict) or payload.get("status") != "success":
            raise ProviderError(_error_text(payload, self.base_url))
        return parse_value(payload.get("data") or {})

    def _get(self, url: str) -> str:
        request = urllib.request.Request(url, headers={"Accept": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_seconds) as response:
                return str(response.read().decode("utf-8", "replace"))
        except urllib.error.HTTPError as error:
            # Prometheus answers a bad query with 400 and a JSON body naming the problem.
            detail = error.read().decode("utf-8", "replace")
            try:
                text = _error_text(json.loads(detail), self.base_url)
            except json.JSONDecodeError:
                text = detail[:200]
            raise ProviderError(f"Prometheus HTTP {error.code}: {text}") from None
        except (urllib.error.URLError, TimeoutError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise ProviderError(
                f"cannot reach Prometheus at {self.base_url}: {reason}; check the operator's "
                "Prometheus URL and network policy"
            ) from None


def parse_value(data: dict[str, Any]) -> float | None:
    """The number in a ``vector`` or ``scalar`` result.

    >>> parse_value({"resultType": "vector", "result": [{"metric": {}, "value": [1.0, "0.25"]}]})
    0.25
    >>> parse_value({"resultType": "vector", "result": []}) is None
    True
    >>> parse_value({"resultType": "scalar", "result": [1.0, "NaN"]})
    nan
    """
    kind, result = data.get("resultType"), data.get("result")
    if kind == "scalar" and isinstance(result, list) and len(result) == 2:
        return _number(result[1])
    if kind != "vector" or not isinstance(result, list):
        raise ProviderError(f"unexpected result type {kind!r}: an analysis query must return one number")
    if not result:
        return None
    if len(result) > 1:
        raise ProviderError(
            f"the query returned {len(result)} series; aggregate it to one number (e.g. wrap it in max(...))"
        )
    return _number(result[0].get("value", [None, None])[1])


def _number(text: Any) -> float:
    try:
        value = float(text)  # Prometheus sends "NaN", "+Inf", "-Inf" as strings; float() reads them
    except (TypeError, ValueError):
        raise ProviderError(f"unreadable sample value {text!r}") from None
    return math.nan if math.isnan(value) else value


def _error_text(payload: Any, base_url: str) -> str:
    if isinstance(payload, dict):
        return f"{payload.get('errorType', 'error')}: {payload.get('error', 'no detail')}"
    return f"unexpected answer from Prometheus at {base_url}"
