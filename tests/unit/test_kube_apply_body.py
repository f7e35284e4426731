"""Server-side apply bodies are YAML to the API server: every string must come back unchanged."""

from __future__ import annotations

import json

import pytest
import yaml

from modelfleet.reconcile.kube import apply_patch_body

STRINGS = [
    "plain",
    "emoji \U0001f600 and \U0001d11e",
    "del \x7f",
    "c1 \x85 \x9f",
    "nonchar \ufffe \uffff",
    "bom \ufeff",
    "nul \x00 tab \t newline \n",
    'quote " backslash \\',
    "中文 é",
]


@pytest.mark.parametrize("value", STRINGS)
def test_every_string_reads_back_unchanged_through_a_yaml_parser(value: str) -> None:
    obj = {"spec": {"args": [value], "env": [{"name": "X", "value": value}]}}
    assert yaml.safe_load(apply_patch_body(obj)) == obj


def test_no_surrogate_escapes_which_go_yaml_refuses() -> None:
    body = apply_patch_body({"a": "\U0001f600"}).decode()
    assert "\\ud83d" not in body and "\U0001f600" in body
    assert "\\ud83d" in json.dumps({"a": "\U0001f600"}), "json.dumps alone writes the escape go-yaml refuses"


def test_a_lone_surrogate_stays_an_escape_for_the_api_server_to_refuse() -> None:
    assert apply_patch_body({"a": "x\ud800y"}) == b'{"a": "x\\ud800y"}'
