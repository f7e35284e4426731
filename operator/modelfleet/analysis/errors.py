"""The one error the metric provider raises: the analysis counts it towards errorLimit."""

from __future__ import annotations


class ProviderError(Exception):
    """Prometheus could not answer (unreachable, HTTP error, ``status: error``, unusable result).
    The message says what failed and what to check."""
