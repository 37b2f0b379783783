from dataclasses import replace

import pytest

from gateway.domain.errors import Code, Rejection
from gateway.domain.identity import check_identity
from gateway.domain.model import (
    Appeal,
    AppealKind,
    Applicant,
    ApplicantType,
    AssuranceLevel,
    IdentityAssertion,
    IdentityProvider,
    Jurisdiction,
    Organisation,
    PersonName,
)

INDIVIDUAL = Appeal(
    portal_appeal_id="P-1",
    kind=AppealKind.STATEMENT,
    applicant=Applicant(ApplicantType.INDIVIDUAL, PersonName("Last", "First")),
    identity=IdentityAssertion(IdentityProvider.ESIA, "subject-1", AssuranceLevel.HIGH),
    topic_code="0005.0005.0056.1149",
    territory_code="97701000",
    subject="s",
    text="t",
    reply_preference="cabinet",
    notification_channels=("cabinet",),
    consent=True,
)
LEGAL = replace(
    INDIVIDUAL,
    applicant=Applicant(
        ApplicantType.LEGAL_ENTITY,
        PersonName("Rep", "Resentative"),
        Organisation("LLC", "1027700132195", "OGRN"),
    ),
)


def _code(appeal: Appeal, jurisdiction: Jurisdiction, org: str | None = None) -> Code:
    with pytest.raises(Rejection) as info:
        check_identity(appeal, jurisdiction, org)
    return info.value.code


def test_esia_individual_is_accepted_in_russia():
    check_identity(INDIVIDUAL, Jurisdiction.RU, None)


def test_russia_accepts_only_esia():
    appeal = replace(
        INDIVIDUAL, identity=IdentityAssertion(IdentityProvider.ID_CARD, "s", AssuranceLevel.HIGH)
    )
    assert _code(appeal, Jurisdiction.RU) is Code.IDENTITY_PROVIDER_NOT_ALLOWED


def test_belarus_accepts_its_own_providers_not_esia():
    by = replace(
        INDIVIDUAL,
        identity=IdentityAssertion(IdentityProvider.BY_PASSWORD_PHONE, "s", AssuranceLevel.SUBSTANTIAL),
    )
    check_identity(by, Jurisdiction.BY, None)
    assert _code(INDIVIDUAL, Jurisdiction.BY) is Code.IDENTITY_PROVIDER_NOT_ALLOWED


def test_low_assurance_is_refused():
    appeal = replace(INDIVIDUAL, identity=IdentityAssertion(IdentityProvider.ESIA, "s", AssuranceLevel.LOW))
    assert _code(appeal, Jurisdiction.RU) is Code.IDENTITY_ASSURANCE_TOO_LOW


def test_consent_is_required():
    assert _code(replace(INDIVIDUAL, consent=False), Jurisdiction.RU) is Code.CONSENT_MISSING


def test_legal_entity_needs_the_applicant_signature_of_the_same_organisation():
    assert _code(LEGAL, Jurisdiction.RU, None) is Code.APPLICANT_SIGNATURE_REQUIRED
    assert _code(LEGAL, Jurisdiction.RU, "1111111111111") is Code.APPLICANT_ORGANISATION_MISMATCH
    check_identity(LEGAL, Jurisdiction.RU, "1027700132195")


def test_legal_entity_must_name_the_organisation():
    appeal = replace(LEGAL, applicant=Applicant(ApplicantType.LEGAL_ENTITY, PersonName("R", "R")))
    assert _code(appeal, Jurisdiction.RU, "1027700132195") is Code.ORGANISATION_REQUIRED
