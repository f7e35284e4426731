"""The one error the renderer raises: a spec it cannot turn into pods, with what to change."""

from __future__ import annotations


class RenderError(ValueError):
    """The spec and plan cannot be rendered as they are; the message says which field to change.

    It is a ``ValueError`` so callers that treat bad input uniformly (the CLI, the reconciler's
    permanent-error path) need no special case.
    """
