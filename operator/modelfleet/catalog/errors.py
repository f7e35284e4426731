"""The one error the catalog raises: bad names, bad data files, bad config.json files."""

from __future__ import annotations


class CatalogError(ValueError):
    """A catalog lookup or a model file failed; the message names the input and what to do.

    A ``ValueError`` so callers that validate user input can treat it like any other bad value.
    """
