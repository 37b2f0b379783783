"""Identity policy: who may file an electronic appeal, per jurisdiction.

Russia (59-FZ as amended, in force 30.03.2025): an electronic appeal counts only when the
applicant was identified through ESIA. Belarus (Law 300-З): обращения.бел identifies by
password + phone, a postal e-system account, a certificate or an ID card. Legal entities
must additionally sign the appeal with a certificate naming the organisation (seed 001).
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.domain.errors import Code, Rejection
from gateway.domain.model import (
    Appeal,
    ApplicantType,
    AssuranceLevel,
    IdentityProvider,
    Jurisdiction,
)


@dataclass(frozen=True, slots=True)
class IdentityRules:
    providers: frozenset[IdentityProvider]
    min_assurance: AssuranceLevel


DEFAULT_RULES: dict[Jurisdiction, IdentityRules] = {
    Jurisdiction.RU: IdentityRules(frozenset({IdentityProvider.ESIA}), AssuranceLevel.SUBSTANTIAL),
    Jurisdiction.BY: IdentityRules(
        frozenset(
            {
                IdentityProvider.BY_PASSWORD_PHONE,
                IdentityProvider.BY_POSTAL_ACCOUNT,
                IdentityProvider.CERTIFICATE,
                IdentityProvider.ID_CARD,
            }
        ),
        AssuranceLevel.SUBSTANTIAL,
    ),
}


def check_identity(
    appeal: Appeal,
    jurisdiction: Jurisdiction,
    applicant_signature_org_id: str | None,
    rules: dict[Jurisdiction, IdentityRules] = DEFAULT_RULES,
) -> None:
    """Raise a :class:`Rejection` if the appeal's applicant is not acceptably identified.

    ``applicant_signature_org_id`` is the organisation id named by the certificate of a
    verified applicant signature, or ``None`` when the envelope carries no such signature.
    """
    pointer = "/Message/Appeal/Identity"
    policy = rules[jurisdiction]
    identity = appeal.identity
    if identity.provider not in policy.providers:
        allowed = ", ".join(sorted(policy.providers))
        raise Rejection(
            Code.IDENTITY_PROVIDER_NOT_ALLOWED,
            f"identity provider {identity.provider} is not accepted in {jurisdiction}; allowed: {allowed}",
            f"{pointer}/Provider",
        )
    if identity.assurance_level.rank < policy.min_assurance.rank:
        raise Rejection(
            Code.IDENTITY_ASSURANCE_TOO_LOW,
            f"assurance level {identity.assurance_level} is below the required {policy.min_assurance}",
            f"{pointer}/AssuranceLevel",
        )
    if not appeal.consent:
        raise Rejection(
            Code.CONSENT_MISSING, "the applicant did not consent to processing", "/Message/Appeal/Consent"
        )
    applicant = appeal.applicant
    if applicant.type is ApplicantType.LEGAL_ENTITY:
        if applicant.organisation is None:
            raise Rejection(
                Code.ORGANISATION_REQUIRED,
                "a legal entity's appeal must name the organisation",
                "/Message/Appeal/Applicant/Organisation",
            )
        if applicant_signature_org_id is None:
            raise Rejection(
                Code.APPLICANT_SIGNATURE_REQUIRED,
                "a legal entity's appeal must carry the applicant's signature",
                "/Message/ApplicantSignature",
            )
        if applicant_signature_org_id != applicant.organisation.organisation_id:
            raise Rejection(
                Code.APPLICANT_ORGANISATION_MISMATCH,
                "the applicant's certificate names another organisation than the appeal",
                "/Message/Appeal/Applicant/Organisation/OrganisationId",
            )
