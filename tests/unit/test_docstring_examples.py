"""Every worked example in a docstring of the package runs and stays true (what ``--doctest-modules``
would check, as a unit test so ``make unit`` runs it)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import modelfleet

MODULES = sorted(info.name for info in pkgutil.walk_packages(modelfleet.__path__, prefix="modelfleet."))


@pytest.mark.parametrize("module_name", MODULES)
def test_docstring_examples_hold(module_name: str) -> None:
    result = doctest.testmod(importlib.import_module(module_name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


def test_the_examples_are_found() -> None:
    """A change to how modules are found must not silently run no example at all (66 docstrings in
    43 modules carry examples today)."""
    finder = doctest.DocTestFinder()
    with_examples = [
        test for name in MODULES for test in finder.find(importlib.import_module(name)) if test.examples
    ]
    assert len(with_examples) >= 41
