"""The base every API model shares: camelCase on the wire, unknown fields rejected by name."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, WithJsonSchema
from pydantic.alias_generators import to_camel

from modelfleet.api.duration import DURATION_MAX_LENGTH, DURATION_PATTERN, DurationError, parse_duration

# Bounds that keep the API server's CEL cost estimator happy (it multiplies by maxItems/maxLength
# when a rule iterates) and stop a typo from storing megabytes in etcd.
NAME_MAX_LENGTH = 253
SHORT_STRING_MAX_LENGTH = 256
LONG_STRING_MAX_LENGTH = 4096
LIST_MAX_ITEMS = 64

DNS_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"


class ApiModel(BaseModel):
    """camelCase aliases, snake_case attributes, unknown fields rejected with their name."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        use_enum_values=False,
    )

    def to_wire(self) -> dict[str, Any]:
        """The camelCase dict a Kubernetes object carries (unset optional fields omitted)."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


def cel(*rules: tuple[str, str]) -> ConfigDict:
    """``x-kubernetes-validations`` for a model's CRD schema; each rule is mirrored by a pydantic
    validator on the same model so the CLI rejects what the API server would."""
    return ConfigDict(
        json_schema_extra={"x-kubernetes-validations": [{"rule": r, "message": m} for r, m in rules]}
    )


def _check_duration(value: str) -> str:
    try:
        parse_duration(value)
    except DurationError as error:
        raise ValueError(str(error)) from None
    return value


def _check_pattern(pattern: str, what: str, example: str) -> Any:
    def check(value: str) -> str:
        if not re.fullmatch(pattern, value):
            raise ValueError(f"{value!r} is not a valid {what} (e.g. {example})")
        return value

    return AfterValidator(check)


# A duration string: readable errors in Python, the same grammar as a pattern in the CRD.
Duration = Annotated[
    str,
    AfterValidator(_check_duration),
    WithJsonSchema({"type": "string", "pattern": DURATION_PATTERN, "maxLength": DURATION_MAX_LENGTH}),
]

DnsLabel = Annotated[
    str,
    _check_pattern(DNS_LABEL_PATTERN, "name (lowercase letters, digits and '-', at most 63)", "ttft-p95"),
    WithJsonSchema({"type": "string", "pattern": DNS_LABEL_PATTERN, "maxLength": 63}),
]
