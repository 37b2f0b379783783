"""Synthetic appeals: plausible, varied, and free of anyone's real personal data."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from datetime import UTC, date, datetime

from gateway.domain.model import (
    AnswerDocument,
    Appeal,
    AppealKind,
    Applicant,
    ApplicantType,
    AssuranceLevel,
    AttachmentHeader,
    CoApplicant,
    IdentityAssertion,
    IdentityProvider,
    MessageHeader,
    Organisation,
    PersonName,
    PostalAddress,
    Signatory,
)

SAMPLE_OGRN = "1027700132195"
_PARAGRAPH = (
    "Прошу провести проверку начисления платы за коммунальные услуги по адресу проживания: "
    "в квитанции за прошлый месяц указан объём потребления, не соответствующий показаниям приборов учёта. "
)


def sample_text(size: int) -> str:
    """About ``size`` bytes of UTF-8 appeal text."""
    repeats = max(1, size // len(_PARAGRAPH.encode()))
    return (_PARAGRAPH * repeats).strip()


def attachment_header(content_id: str, file_name: str, media_type: str, data: bytes) -> AttachmentHeader:
    return AttachmentHeader(content_id, file_name, media_type, len(data), hashlib.sha256(data).hexdigest())


def sample_appeal(
    seq: int = 1,
    *,
    applicant_type: ApplicantType = ApplicantType.INDIVIDUAL,
    provider: IdentityProvider = IdentityProvider.ESIA,
    topic_code: str = "0005.0005.0056.1149",
    territory_code: str = "97701000",
    addressee_code: str | None = None,
    text_size: int = 2000,
    attachments: tuple[AttachmentHeader, ...] = (),
    portal_appeal_id: str | None = None,
    notification_channels: tuple[str, ...] = ("cabinet", "email"),
    reply_preference: str = "cabinet",
    co_applicants: tuple[CoApplicant, ...] = (),
) -> Appeal:
    organisation = (
        Organisation("ООО «Пример»", SAMPLE_OGRN, "OGRN")
        if applicant_type is ApplicantType.LEGAL_ENTITY
        else None
    )
    return Appeal(
        portal_appeal_id=portal_appeal_id or f"P-{seq:08d}-{uuid.uuid4().hex[:6]}",
        kind=AppealKind.STATEMENT,
        applicant=Applicant(
            type=applicant_type,
            person=PersonName("Петрова", "Анна", "Сергеевна"),
            organisation=organisation,
            email="applicant@example.org",
            phone="+79000000000",
            postal_address=PostalAddress("г. Чебоксары, ул. Примерная, д. 1, кв. 1", "428000"),
        ),
        identity=IdentityAssertion(provider, f"subject-{seq}", AssuranceLevel.HIGH),
        topic_code=topic_code,
        territory_code=territory_code,
        addressee_code=addressee_code,
        subject="Начисление платы за коммунальные услуги",
        text=sample_text(text_size),
        reply_preference=reply_preference,
        notification_channels=notification_channels,
        consent=True,
        attachments=attachments,
        co_applicants=co_applicants,
    )


def sample_co_applicants(count: int = 2, *, contact: int | None = None) -> tuple[CoApplicant, ...]:
    """Neighbours who sign the same appeal (a collective one); ``contact``: the index of the one the
    hub's notifications go to (None: the applicant stays the contact)."""
    names = [("Иванов", "Пётр", "Ильич"), ("Сидорова", "Мария", None), ("Кузнецов", "Олег", "Петрович")]
    return tuple(
        CoApplicant(
            person=PersonName(*names[i % len(names)]),
            identity_provider=IdentityProvider.ESIA,
            subject_id=f"co-subject-{i + 1}",
            email=f"co-applicant-{i + 1}@example.org",
            phone=f"+7900000000{i + 1}",
            contact=i == contact,
        )
        for i in range(count)
    )


ANSWER_TEXT = (
    "Ваше обращение о начислении платы за коммунальные услуги рассмотрено. Управляющей организации "
    "поручено произвести перерасчёт платы по показаниям приборов учёта. Акт проверки прилагается."
)


def sample_answer(
    appeal_id: uuid.UUID | str,
    registration_number: str,
    *,
    agency_code: str = "ADM-CHEBOKSARY",
    files: Mapping[str, bytes] | None = None,
    answered_on: date | None = None,
) -> AnswerDocument:
    """An agency's answer to one appeal, unsigned; ``files`` maps each ContentId to its bytes (listed
    as PDFs named after the ContentId)."""
    return AnswerDocument(
        answer_id=uuid.uuid4(),
        appeal_id=uuid.UUID(str(appeal_id)),
        agency_code=agency_code,
        registration_number=registration_number,
        answered_on=answered_on or date.today(),
        signatory=Signatory("Иванов Иван Иванович", "Начальник управления ЖКХ"),
        text=ANSWER_TEXT,
        attachments=tuple(
            attachment_header(cid, f"{cid}.pdf", "application/pdf", data)
            for cid, data in (files or {}).items()
        ),
    )


def message_header(
    sender_id: str, *, sent_at: datetime | None = None, message_id: uuid.UUID | None = None
) -> MessageHeader:
    """A transport header with a random (v4) message id: time-based (v1) ids made by parallel
    processes on one host can collide (the ingest bench saw it)."""
    return MessageHeader(message_id or uuid.uuid4(), sent_at or datetime.now(UTC), sender_id)
