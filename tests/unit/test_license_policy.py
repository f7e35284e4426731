"""The licence policy: which models the platform serves, and what the user is told to do."""

from __future__ import annotations

import pytest

from modelfleet.catalog import (
    LICENSE_ALLOWED,
    LICENSE_NEEDS_ACCEPTANCE,
    LICENSE_REFUSED,
    LICENSE_UNKNOWN,
    LicensePolicy,
    evaluate_license,
    get_model,
    license_catalog,
)

DEFAULT = LicensePolicy()


@pytest.mark.parametrize(
    ("license_id", "accepted", "allowed", "reason"),
    [
        ("mit", False, True, LICENSE_ALLOWED),
        ("apache-2.0", False, True, LICENSE_ALLOWED),
        ("modified-mit", False, False, LICENSE_NEEDS_ACCEPTANCE),
        ("modified-mit", True, True, LICENSE_ALLOWED),
        ("llama3.1", False, False, LICENSE_NEEDS_ACCEPTANCE),
        ("llama4", True, True, LICENSE_ALLOWED),
        ("gemma", False, False, LICENSE_NEEDS_ACCEPTANCE),
        ("other", False, False, LICENSE_NEEDS_ACCEPTANCE),
        ("minimax-m2.7", False, False, LICENSE_REFUSED),
        ("minimax-m2.7", True, False, LICENSE_REFUSED),
        ("mistral-research", True, False, LICENSE_REFUSED),
        (None, False, False, LICENSE_UNKNOWN),
        (None, True, True, LICENSE_ALLOWED),
        ("wtfpl", False, False, LICENSE_UNKNOWN),
        ("MIT", False, True, LICENSE_ALLOWED),
    ],
)
def test_default_policy_table(license_id: str | None, accepted: bool, allowed: bool, reason: str) -> None:
    decision = evaluate_license(DEFAULT, license_id, accepted)
    assert (decision.allowed, decision.reason) == (allowed, reason)
    assert decision.message


@pytest.mark.parametrize(
    ("policy", "license_id", "accepted", "allowed", "reason"),
    [
        # An admin with written permission from MiniMax allows that one licence by id.
        (LicensePolicy(allowed=["minimax-m2.7"]), "minimax-m2.7", False, True, LICENSE_ALLOWED),
        # An allow-list refuses everything else, even permissive licences.
        (LicensePolicy(allowed=["apache-2.0"]), "mit", False, False, LICENSE_REFUSED),
        (LicensePolicy(allowed=["permissive"]), "mit", False, True, LICENSE_ALLOWED),
        (LicensePolicy(allowed=["permissive"]), "llama4", True, False, LICENSE_REFUSED),
        # Refusing one restricted licence by id, while others of its category only need acceptance.
        (LicensePolicy(refused=["gemma"]), "gemma", True, False, LICENSE_REFUSED),
        (LicensePolicy(refused=["gemma"]), "llama4", True, True, LICENSE_ALLOWED),
        # Without acceptance rules restricted licences pass.
        (LicensePolicy(require_acceptance=[]), "modified-mit", False, True, LICENSE_ALLOWED),
        # Acceptance demanded for every licence, permissive included.
        (
            LicensePolicy(require_acceptance=["permissive", "restricted"]),
            "apache-2.0",
            False,
            False,
            LICENSE_NEEDS_ACCEPTANCE,
        ),
        # Unknown licences refused outright, even when accepted.
        (LicensePolicy(allow_unknown=False), None, True, False, LICENSE_UNKNOWN),
        (LicensePolicy(allow_unknown=False), "mit", False, True, LICENSE_ALLOWED),
    ],
)
def test_custom_policy_table(
    policy: LicensePolicy, license_id: str | None, accepted: bool, allowed: bool, reason: str
) -> None:
    decision = evaluate_license(policy, license_id, accepted)
    assert (decision.allowed, decision.reason) == (allowed, reason)


def test_kimi_message_names_the_model_obligation_and_the_field_to_set() -> None:
    kimi = get_model("moonshotai/Kimi-K2.6")
    assert kimi is not None
    decision = evaluate_license(DEFAULT, kimi.license, accepted=False, model_id=kimi.id)
    assert "moonshotai/Kimi-K2.6" in decision.message
    assert "modified-mit" in decision.message and "100M" in decision.message
    assert "spec.model.licenseAccepted: true" in decision.message


def test_minimax_m27_is_refused_by_default_with_a_way_forward() -> None:
    m27 = get_model("MiniMaxAI/MiniMax-M2.7")
    assert m27 is not None
    decision = evaluate_license(DEFAULT, m27.license, accepted=True, model_id=m27.id)
    assert not decision.allowed and decision.reason == LICENSE_REFUSED
    assert "written authorisation" in decision.message and "allowed list" in decision.message


def test_unknown_licence_message_offers_acceptance_or_naming_the_licence() -> None:
    decision = evaluate_license(DEFAULT, None, accepted=False, model_id="MiniMaxAI/MiniMax-M2.5")
    assert "licenseAccepted: true" in decision.message and "overrides.license" in decision.message
    assert "apache-2.0" in decision.message


def test_every_catalog_licence_gets_a_decision_under_the_default_policy() -> None:
    for license_id, info in license_catalog().items():
        decision = evaluate_license(DEFAULT, license_id, accepted=True)
        assert decision.allowed == (info.category.value != "non-commercial")


def test_default_policy_refuses_non_commercial_and_gates_restricted() -> None:
    assert DEFAULT.refused == ["non-commercial"]
    assert DEFAULT.require_acceptance == ["restricted"]
    assert DEFAULT.allowed == [] and DEFAULT.allow_unknown
