"""Licence policy: may this platform serve a model under this licence, and what must the user do?

Default policy (``LicensePolicy()``), chosen for a commercial platform:

- permissive (MIT, Apache 2.0): allowed.
- restricted (Llama, Gemma, Kimi modified MIT, DeepSeek model licence, unidentified "other"
  licences): allowed once the user sets ``spec.model.licenseAccepted: true``; the licence keeps
  obligations (acceptable-use policies, user caps, attribution) the operator cannot check for them.
- non-commercial (MiniMax M2.7, Mistral Research): refused; a platform admin who holds written
  permission lists the licence id in ``allowed``.
- unknown (the catalog has no licence for the model, or the id is not in licenses.yaml): treated like
  restricted (``allow_unknown=True``): the user reads the model card and accepts it, or names the
  licence with ``spec.model.overrides.license``. ``allow_unknown=False`` refuses such models.

Policy lists hold licence ids (``"llama4"``) or categories (``"restricted"``); an id is more
specific, so it wins over its category. Order: refused, then allowed, then require_acceptance, then
the category default.

>>> decision = evaluate_license(LicensePolicy(), "modified-mit", accepted=False, model_id="moonshotai/Kimi-K2.6")
>>> decision.allowed, decision.reason
(False, 'LicenseNeedsAcceptance')
>>> evaluate_license(LicensePolicy(), "modified-mit", accepted=True).allowed
True
>>> evaluate_license(LicensePolicy(), "minimax-m2.7", accepted=True).reason
'LicenseRefused'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache
from types import MappingProxyType

from modelfleet.catalog import values as v
from modelfleet.catalog.errors import CatalogError
from modelfleet.catalog.loader import entry_of, read_data_file

# The reasons of the LicenseAccepted condition (api.conditions.Reason takes its values from here).
LICENSE_ALLOWED = "LicenseAllowed"
LICENSE_NEEDS_ACCEPTANCE = "LicenseNeedsAcceptance"
LICENSE_REFUSED = "LicenseRefused"
LICENSE_UNKNOWN = "LicenseUnknown"

ACCEPT_HINT = "set spec.model.licenseAccepted: true to accept it"


class LicenseCategory(StrEnum):
    PERMISSIVE = "permissive"
    RESTRICTED = "restricted"
    NON_COMMERCIAL = "non-commercial"


@dataclass(frozen=True)
class LicenseInfo:
    id: str
    name: str
    category: LicenseCategory
    summary: str  # the obligation in one line, shown to users
    url: str | None = None


@dataclass(frozen=True)
class LicensePolicy:
    """Which licences a platform serves. Entries are licence ids or category names."""

    allowed: list[str] = field(default_factory=list)  # empty = anything not refused (after acceptance rules)
    require_acceptance: list[str] = field(default_factory=lambda: [LicenseCategory.RESTRICTED.value])
    refused: list[str] = field(default_factory=lambda: [LicenseCategory.NON_COMMERCIAL.value])
    allow_unknown: bool = True  # unknown licences need acceptance; False refuses them


@dataclass(frozen=True)
class LicenseDecision:
    allowed: bool
    reason: str  # one of the LICENSE_* constants
    message: str


LICENSE_KEYS = frozenset({"name", "category", "summary", "url"})


def _license(license_id: str, entry: Mapping[str, object]) -> LicenseInfo:
    where = f"catalog/data/licenses.yaml: {license_id}"
    category = entry.get("category")
    if category not in {member.value for member in LicenseCategory}:
        kinds = ", ".join(member.value for member in LicenseCategory)
        raise CatalogError(f"{where}: field category must be one of {kinds}, got {v.describe(category)}")
    name, summary = v.text(entry, "name", where=where), v.text(entry, "summary", where=where)
    if name is None or summary is None:
        raise CatalogError(f"{where}: fields name and summary are required")
    return LicenseInfo(
        license_id, name, LicenseCategory(str(category)), summary, v.text(entry, "url", where=where)
    )


@cache
def license_catalog() -> Mapping[str, LicenseInfo]:
    """Every licence the catalog knows, by licence id (``"apache-2.0"``), read-only."""
    data = read_data_file("licenses.yaml")
    return MappingProxyType(
        {
            str(key): _license(str(key), entry_of(data, key, "catalog/data/licenses.yaml", LICENSE_KEYS))
            for key in data
        }
    )


def evaluate_license(
    policy: LicensePolicy, license_id: str | None, accepted: bool, model_id: str | None = None
) -> LicenseDecision:
    """Whether ``policy`` lets the platform serve a model under ``license_id``, and why."""
    subject = f"model {model_id}" if model_id else "the model"
    info = license_catalog().get(license_id.strip().lower()) if isinstance(license_id, str) else None
    if info is None:
        return _unknown(policy, license_id, accepted, subject)
    described = f"{subject} is under {info.id} ({info.summary})"
    ids_and_category = {info.id, info.category.value}
    if ids_and_category & set(policy.refused) and info.id not in policy.allowed:
        return LicenseDecision(
            False,
            LICENSE_REFUSED,
            f"{described}; the platform's licence policy refuses {info.category.value} licences; "
            "ask a platform admin to add the licence id to the policy's allowed list if you hold permission",
        )
    if policy.allowed and not ids_and_category & set(policy.allowed):
        return LicenseDecision(
            False,
            LICENSE_REFUSED,
            f"{described}; the platform's licence policy allows only {', '.join(policy.allowed)}",
        )
    needs_acceptance = bool(ids_and_category & set(policy.require_acceptance))
    if needs_acceptance and not accepted:
        return LicenseDecision(False, LICENSE_NEEDS_ACCEPTANCE, f"{described}; {ACCEPT_HINT}")
    how = "accepted by spec.model.licenseAccepted" if needs_acceptance else "allowed by the licence policy"
    return LicenseDecision(True, LICENSE_ALLOWED, f"{described}; {how}")


def _unknown(policy: LicensePolicy, license_id: str | None, accepted: bool, subject: str) -> LicenseDecision:
    what = "unknown" if not license_id else f"{license_id!r}, which the licence catalog does not know"
    known = ", ".join(license_catalog())
    if not policy.allow_unknown:
        return LicenseDecision(
            False,
            LICENSE_UNKNOWN,
            f"the licence of {subject} is {what} and the platform's licence policy refuses unknown licences; "
            f"set spec.model.overrides.license to one of: {known}",
        )
    if not accepted:
        return LicenseDecision(
            False,
            LICENSE_UNKNOWN,
            f"the licence of {subject} is {what}; read its model card, then {ACCEPT_HINT} "
            f"or set spec.model.overrides.license to one of: {known}",
        )
    return LicenseDecision(
        True, LICENSE_ALLOWED, f"the licence of {subject} is {what}; accepted by spec.model.licenseAccepted"
    )
