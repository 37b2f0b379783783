"""What each refusal code means, for a person, in Russian and in English.

A client branches on the code; a SOAP Fault also carries these two sentences (``sed:Description``)
so that an operator of an agency's EDMS reads what went wrong without the manual, and the published
schema (``schemas/sed-service-1.xsd``) lists every code with the same two sentences. The request's
own content is never echoed: these say what kind of refusal it is, the fault's ``Pointer`` where.
"""

from __future__ import annotations

from gateway.domain.errors import Code

INTERNAL_ERROR = "internal-error"  # the hub's own failure; not a Code (it is no refusal of the client's)

# code → (Russian, English)
MESSAGES: dict[str, tuple[str, str]] = {
    Code.BODY_TOO_LARGE: ("Запрос больше допустимого размера.", "The request is larger than allowed."),
    Code.UNSUPPORTED_MEDIA_TYPE: (
        "Тип содержимого запроса не поддерживается этой операцией.",
        "This operation does not take the request's media type.",
    ),
    Code.MALFORMED_MULTIPART: (
        "Составной (multipart) запрос повреждён или неполон.",
        "The multipart request is malformed or incomplete.",
    ),
    Code.MALFORMED_XML: ("XML запроса не разбирается.", "The request's XML cannot be parsed."),
    Code.FORBIDDEN_XML_CONSTRUCT: (
        "XML содержит запрещённую конструкцию (DTD, сущность или инструкцию обработки).",
        "The XML holds a forbidden construct (a DTD, an entity or a processing instruction).",
    ),
    Code.XML_TOO_DEEP: ("XML вложен слишком глубоко.", "The XML is nested too deeply."),
    Code.SCHEMA_VIOLATION: (
        "Документ не соответствует опубликованной схеме; поле указано в Pointer.",
        "The document does not match the published schema; Pointer names the field.",
    ),
    Code.SIGNATURE_MISSING: ("Документ не подписан.", "The document is not signed."),
    Code.SIGNATURE_INVALID: ("Подпись документа неверна.", "The document's signature does not verify."),
    Code.SIGNATURE_REFERENCE_INVALID: (
        "Подпись не охватывает документ целиком.",
        "The signature does not cover the whole document.",
    ),
    Code.SIGNATURE_AMBIGUOUS: (
        "В документе несколько подписей там, где ожидается одна.",
        "The document holds several signatures where one is expected.",
    ),
    Code.SIGNATURE_ALGORITHM_NOT_ALLOWED: (
        "Алгоритм подписи или хэширования не разрешён.",
        "The signature or digest algorithm is not allowed.",
    ),
    Code.CERTIFICATE_UNTRUSTED: (
        "Сертификат подписи не выдан доверенным удостоверяющим центром.",
        "The signing certificate was not issued by a trusted certification authority.",
    ),
    Code.CERTIFICATE_EXPIRED: (
        "Срок действия сертификата подписи истёк.",
        "The signing certificate has expired.",
    ),
    Code.CERTIFICATE_NOT_YET_VALID: (
        "Сертификат подписи ещё не действует (проверьте часы отправителя).",
        "The signing certificate is not valid yet (check the sender's clock).",
    ),
    Code.CERTIFICATE_KEY_USAGE: (
        "Сертификат не предназначен для электронной подписи.",
        "The certificate's key usage does not allow digital signatures.",
    ),
    Code.SENDER_UNKNOWN: (
        "Отправитель не зарегистрирован в хабе.",
        "The sender is not registered with the hub.",
    ),
    Code.SENDER_CERTIFICATE_MISMATCH: (
        "Сертификат подписи не принадлежит заявленному отправителю.",
        "The signing certificate does not belong to the sender named.",
    ),
    Code.IDENTITY_PROVIDER_NOT_ALLOWED: (
        "Способ подтверждения личности заявителя не принимается.",
        "The applicant's identity provider is not accepted.",
    ),
    Code.IDENTITY_ASSURANCE_TOO_LOW: (
        "Уровень подтверждения личности заявителя недостаточен.",
        "The applicant's identity assurance level is too low.",
    ),
    Code.APPLICANT_SIGNATURE_REQUIRED: (
        "Обращение должно быть подписано заявителем.",
        "The appeal must carry the applicant's own signature.",
    ),
    Code.APPLICANT_ORGANISATION_MISMATCH: (
        "Подпись заявителя не соответствует указанной организации.",
        "The applicant's signature does not match the organisation named.",
    ),
    Code.ORGANISATION_REQUIRED: (
        "Для обращения юридического лица нужны сведения об организации.",
        "An appeal of a legal entity must name the organisation.",
    ),
    Code.CONSENT_MISSING: (
        "Нет согласия заявителя на обработку персональных данных.",
        "The applicant's consent to the processing of personal data is missing.",
    ),
    Code.SENT_AT_OUT_OF_WINDOW: (
        "Время отправки вне допустимого окна (проверьте часы отправителя).",
        "The sending time is outside the allowed window (check the sender's clock).",
    ),
    Code.MESSAGE_ID_REUSED: (
        "Идентификатор сообщения уже использован для другого содержимого.",
        "The message id was already used for different content.",
    ),
    Code.APPEAL_ALREADY_RECEIVED: ("Это обращение уже получено.", "This appeal was already received."),
    Code.ATTACHMENT_MISSING: (
        "Вложение, указанное в документе, не передано.",
        "An attachment the document lists was not sent.",
    ),
    Code.ATTACHMENT_UNEXPECTED: (
        "Передано вложение, которого нет в документе.",
        "An attachment was sent that the document does not list.",
    ),
    Code.ATTACHMENT_DIGEST_MISMATCH: (
        "Хэш вложения не совпадает с указанным в подписанном документе.",
        "An attachment's digest differs from the one in the signed document.",
    ),
    Code.ATTACHMENT_SIZE_MISMATCH: (
        "Размер вложения не совпадает с указанным в документе.",
        "An attachment's size differs from the one in the document.",
    ),
    Code.ATTACHMENT_INFECTED: (
        "Антивирус нашёл во вложении вредоносный код; документ не принят.",
        "The antivirus found malware in an attachment; the document was not accepted.",
    ),
    Code.ATTACHMENT_TYPE_NOT_ALLOWED: (
        "Тип вложения по его содержимому не совпадает с заявленным или не разрешён.",
        "The attachment's type by its content differs from the one declared, or is not allowed.",
    ),
    Code.ATTACHMENT_ARCHIVE_LIMIT: (
        "Архив во вложении превышает пределы вложенности, числа файлов или размера.",
        "An archive attachment exceeds the limits of nesting, member count or expanded size.",
    ),
    Code.ANTIVIRUS_UNAVAILABLE: (
        "Антивирусная проверка временно недоступна; повторите позже.",
        "The antivirus check is unavailable for now; try again later.",
    ),
    Code.ATTACHMENT_TOO_LARGE: (
        "Вложение больше допустимого размера.",
        "An attachment is larger than allowed.",
    ),
    Code.UNAUTHENTICATED: (
        "Нужны действующие учётные данные для этого интерфейса.",
        "Valid credentials for this interface are required.",
    ),
    Code.NOT_FOUND: (
        "Не найдено (или недоступно этому отправителю).",
        "Not found (or not visible to this caller).",
    ),
    Code.LEASE_INVALID: (
        "Токен аренды устарел: сообщение выдано повторно или освобождено оператором.",
        "The lease token is stale: the message was leased again or released by an operator.",
    ),
    Code.INVALID_REQUEST: (
        "Запрос неверен; поле указано в Pointer.",
        "The request is not valid; Pointer names the field.",
    ),
    Code.ILLEGAL_TRANSITION: (
        "Действие недопустимо в текущем состоянии обращения.",
        "The action is not allowed in the appeal's current state.",
    ),
    Code.EVENT_ID_REUSED: (
        "Идентификатор события уже использован для другого события.",
        "The event id was already used for a different event.",
    ),
    Code.REGISTRATION_NUMBER_TAKEN: (
        "Регистрационный номер уже занят другим обращением этого органа.",
        "The registration number is already taken by another appeal of this agency.",
    ),
    Code.ANSWER_CERTIFICATE_NOT_REGISTERED: (
        "Сертификат подписи ответа не зарегистрирован для этого органа.",
        "The answer's signing certificate is not registered for this agency.",
    ),
    Code.ANSWER_MISMATCH: (
        "Подписанный ответ относится к другому органу, обращению или номеру.",
        "The signed answer names another agency, appeal or registration number.",
    ),
    Code.REQUEST_ID_REUSED: (
        "Идентификатор запроса заявителя уже использован для другого запроса.",
        "The applicant's request id was already used for a different request.",
    ),
    Code.NOT_ANSWERED: ("На обращение ещё не дан ответ.", "The appeal has not been answered yet."),
    Code.FEEDBACK_ALREADY_GIVEN: ("Оценка ответа уже дана.", "The answer has already been rated."),
    Code.NOT_BY_POST: (
        "Заявитель не просил ответ почтой.",
        "The applicant did not ask for the answer by post.",
    ),
    Code.ALREADY_DISPATCHED: ("Ответ уже отправлен почтой.", "The answer has already been posted."),
    Code.AGENCY_UNKNOWN: ("Орган не зарегистрирован в хабе.", "The agency is not registered with the hub."),
    Code.TOO_MANY_REQUESTS: (
        "Слишком много запросов; повторите позже.",
        "Too many requests; retry later.",
    ),
    Code.SERVICE_UNAVAILABLE: (
        "База данных хаба временно недоступна; повторите запрос позже.",
        "The hub's database is unavailable for a moment; retry the request later.",
    ),
    INTERNAL_ERROR: (
        "Сбой хаба; запрос не применён, его можно повторить.",
        "The hub failed; the request was not applied and may be retried.",
    ),
}


def describe(code: str) -> tuple[str, str]:
    """(Russian, English) for ``code``; a code added without its sentences still reads as itself."""
    return MESSAGES.get(code, (code, code))
