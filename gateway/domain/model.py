"""What an appeal is, in the words of the field (see the glossary in docs/domain.md)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from uuid import UUID


class AppealKind(StrEnum):
    PROPOSAL = "proposal"
    STATEMENT = "statement"
    COMPLAINT = "complaint"


class ApplicantType(StrEnum):
    INDIVIDUAL = "individual"
    ENTREPRENEUR = "entrepreneur"
    LEGAL_ENTITY = "legal-entity"


class IdentityProvider(StrEnum):
    ESIA = "esia"
    BY_PASSWORD_PHONE = "by-password-phone"  # noqa: S105 (a provider name)
    BY_POSTAL_ACCOUNT = "by-postal-account"
    CERTIFICATE = "certificate"
    ID_CARD = "id-card"


class AssuranceLevel(StrEnum):
    LOW = "low"
    SUBSTANTIAL = "substantial"
    HIGH = "high"

    @property
    def rank(self) -> int:
        return list(AssuranceLevel).index(self)


class Jurisdiction(StrEnum):
    RU = "RU"
    BY = "BY"


class JurisdictionProfile(StrEnum):
    """The law whose clock an agency keeps."""

    RU_59FZ = "RU-59FZ"
    BY_300Z = "BY-300Z"


class DeliveryMode(StrEnum):
    PULL = "pull"
    PUSH_SOAP = "push-soap"


@dataclass(frozen=True, slots=True)
class PersonName:
    last_name: str
    first_name: str
    middle_name: str | None = None


@dataclass(frozen=True, slots=True)
class Organisation:
    name: str
    organisation_id: str
    scheme: str  # "OGRN" or "UNP"


@dataclass(frozen=True, slots=True)
class PostalAddress:
    text: str
    postcode: str | None = None


@dataclass(frozen=True, slots=True)
class Applicant:
    type: ApplicantType
    person: PersonName
    organisation: Organisation | None = None
    email: str | None = None
    phone: str | None = None
    postal_address: PostalAddress | None = None


@dataclass(frozen=True, slots=True)
class IdentityAssertion:
    provider: IdentityProvider
    subject_id: str
    assurance_level: AssuranceLevel


@dataclass(frozen=True, slots=True)
class AttachmentHeader:
    """What the signed XML says of an attachment; the bytes travel outside it."""

    content_id: str
    file_name: str
    media_type: str
    size: int
    sha256: str  # lower-case hex


@dataclass(frozen=True, slots=True)
class Appeal:
    portal_appeal_id: str
    kind: AppealKind
    applicant: Applicant
    identity: IdentityAssertion
    topic_code: str
    territory_code: str
    subject: str
    text: str
    reply_preference: str
    notification_channels: tuple[str, ...]
    consent: bool
    addressee_code: str | None = None
    attachments: tuple[AttachmentHeader, ...] = ()


@dataclass(frozen=True, slots=True)
class MessageHeader:
    """The transport facts of one pushed envelope (all inside the portal's signature)."""

    message_id: UUID
    sent_at: datetime
    sender_id: str


@dataclass(frozen=True, slots=True)
class RoutingRule:
    agency_code: str
    topic_prefix: str = ""
    territory_prefix: str = ""


@dataclass(frozen=True, slots=True)
class PortalSender:
    id: str
    jurisdiction: Jurisdiction
    certificate_cn: str


@dataclass(frozen=True, slots=True)
class Agency:
    code: str
    name: str
    jurisdiction_profile: JurisdictionProfile
    timezone: str
    delivery_mode: DeliveryMode = DeliveryMode.PULL
    push_url: str | None = None
    answer_certificate: str | None = None
    topic_prefixes: tuple[str, ...] = ()
    territory_prefixes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Signatory:
    """The official who signed an agency's answer on the agency's behalf."""

    name: str
    position: str


@dataclass(frozen=True, slots=True)
class AnswerDocument:
    """What the agency's signature covers in its answer (``schemas/answer-1.xsd``): the answer to one
    appeal. The XML adapter reads it only from a verified signed element."""

    answer_id: UUID  # the agency's own id of the answer
    appeal_id: UUID  # the hub's id of the appeal answered
    agency_code: str
    registration_number: str  # of the appeal, at the agency
    answered_on: date
    signatory: Signatory
    text: str
    attachments: tuple[AttachmentHeader, ...] = ()
