"""The agencies' EDMS face over REST: statuses of appeals received through other channels, in bulk.

Only translation happens here: the records' fields go to the domain as text (it checks them and
names the field at fault), the batch to the service layer, the results back as JSON.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Annotated, Any

import anyio
from litestar import post
from litestar.di import Provide
from litestar.params import Body

from gateway.domain.status_upload import parse_records
from gateway.faces.rest import contract
from gateway.faces.rest.auth import calling_agency
from gateway.service import status_upload
from gateway.service.hub import Hub


@dataclass
class StatusRecordBody:
    """One status; every field is text, checked by the domain (dates as ``YYYY-MM-DD``)."""

    registration_number: str | None = None
    registered_on: str | None = None
    channel: str | None = None
    state: str | None = None
    at: str | None = None
    answer_by: str | None = None
    reason: str | None = None


@dataclass
class StatusesBody:
    records: list[StatusRecordBody] = field(default_factory=list)  # none: refused with the batch's size


@post(
    "/sed/v1/statuses",
    status_code=200,
    dependencies={"agency": Provide(calling_agency, sync_to_thread=True)},
    tags=["EDMS (REST)"],
    summary="Upload statuses of appeals received through other channels (post, in person, e-mail, website)",
    description="One transaction: a refused record (`pointer` `/records/{i}/{field}`) leaves the whole batch "
    "unstored. The first record of a number returns the appeal's access code, once. `reason` is shown "
    "to anyone with the number and the code: it must hold no personal data.",
    security=contract.AS_AGENCY,
    responses=contract.answers(contract.StatusesResult, 401, 409, 422, example=contract.STATUSES_RESULT),
)
async def upload_statuses(
    hub: Hub,
    agency: str,
    data: Annotated[StatusesBody, Body(examples=contract.body_example(contract.STATUSES))],
) -> dict[str, Any]:
    records = parse_records([asdict(record) for record in data.records])
    results = await anyio.to_thread.run_sync(status_upload.upload, hub, agency, records)
    return {
        "records": [
            {"registration_number": r.registration_number, "outcome": r.outcome.value}
            | ({"access_code": r.access_code} if r.access_code else {})
            for r in results
        ]
    }


@dataclass
class AccessCodeBody:
    registration_number: str | None = None


@post(
    "/sed/v1/statuses/access-code",
    status_code=200,
    dependencies={"agency": Provide(calling_agency, sync_to_thread=True)},
    tags=["EDMS (REST)"],
    summary="Issue a new access code for an appeal the agency uploaded; the old code stops working",
    security=contract.AS_AGENCY,
    responses=contract.answers(contract.AccessCode, 401, 404, example=contract.ACCESS_CODE),
)
async def reissue_access_code(
    hub: Hub,
    agency: str,
    data: Annotated[AccessCodeBody, Body(examples=contract.body_example(contract.ACCESS_CODE_REQUEST))],
) -> dict[str, str]:
    number, code = await anyio.to_thread.run_sync(
        status_upload.reissue_access_code, hub, agency, data.registration_number
    )
    return {"registration_number": number, "access_code": code}
