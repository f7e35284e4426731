"""Reading the answers of Prometheus's instant-query API: JSON text -> one number, or a ProviderError.

Pure: the HTTP call is the shell's (:mod:`modelfleet.reconcile.prometheus`); this module only reads what
``GET {base}/api/v1/query`` returned (https://prometheus.io/docs/prometheus/latest/querying/api/).
Every failure becomes a :class:`ProviderError` whose message says what to check.
"""

from __future__ import annotations

import json
import math
from typing import Any

from modelfleet.analysis.errors import ProviderError


def read_answer(body: str, base_url: str) -> float | None:
    """The single value of a successful answer; None when the query matched no series.

    >>> read_answer('{"status": "success", "data": {"resultType": "scalar", "result": [1.7e9, "3"]}}', "p")
    3.0
    >>> read_answer("<html>login</html>", "http://prometheus:9090")
    Traceback (most recent call last):
    ...
    modelfleet.analysis.errors.ProviderError: Prometheus at http://prometheus:9090 returned non-JSON: '<html>login</html>'
    """
    try:
        payload = json.loads(body)
    except json.JSONDecodeError:
        raise ProviderError(f"Prometheus at {base_url} returned non-JSON: {body[:200]!r}") from None
    if not isinstance(payload, dict) or payload.get("status") != "success":
        raise ProviderError(error_text(payload, base_url))
    return parse_value(payload.get("data") or {})


def error_text(payload: Any, base_url: str) -> str:
    """What an error answer says (Prometheus answers a bad query with ``errorType`` and ``error``).

    >>> error_text({"status": "error", "errorType": "bad_data", "error": "parse error at char 4"}, "p")
    'bad_data: parse error at char 4'
    """
    if isinstance(payload, dict):
        return f"{payload.get('errorType', 'error')}: {payload.get('error', 'no detail')}"
    return f"unexpected answer from Prometheus at {base_url}"


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
