"""The worked examples in the renderer's docstrings stay true."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import modelfleet.render

MODULES = sorted(
    info.name for info in pkgutil.walk_packages(modelfleet.render.__path__, prefix="modelfleet.render.")
)


@pytest.mark.parametrize("module_name", MODULES)
def test_docstring_examples_hold(module_name: str) -> None:
    result = doctest.testmod(importlib.import_module(module_name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
