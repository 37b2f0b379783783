"""``appeals-gateway demo``: play the portal and an agency's EDMS against a running hub, step by step."""

from __future__ import annotations

import json
import mailbox
import time
import uuid
from datetime import UTC, date, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

import httpx
import typer

from connectors.mail.maildir import maildir_opener
from gateway.adapters.pki import DevPki, GostDevPki, ensure_dev_pki, ensure_gost_dev_pki
from gateway.adapters.xmlsec import gost
from gateway.adapters.xmlsec.suites import GOST
from gateway.config import MailboxSettings
from gateway.domain.model import ApplicantType
from gateway.faces.cli.session import hub_session
from gateway.service import incoming_mail
from gateway.simulators.edms import Edms
from gateway.simulators.edms_soap import SoapEdms
from gateway.simulators.portal import Portal, Signer, answer_attachment, give_feedback, push, withdraw
from gateway.simulators.samples import attachment_header, sample_answer, sample_appeal, sample_co_applicants


def _step(text: str) -> None:
    typer.secho(f"\n▶ {text}", bold=True)


def _show(response: httpx.Response) -> dict:
    body = response.json()
    typer.echo(f"  HTTP {response.status_code} {json.dumps(body, ensure_ascii=False)}")
    return body


def _portal(pki: DevPki, gost_pki: GostDevPki | None = None) -> Portal:
    """EPGU as the dev PKI lets it sign: RSA, or GOST R 34.10-2012 when ``gost_pki`` is given."""
    if gost_pki is not None:
        return Portal(
            "EPGU",
            Signer(gost_pki.portal_key.read_bytes(), gost_pki.portal_cert.read_bytes()),
            applicant=Signer(gost_pki.applicant_key.read_bytes(), gost_pki.applicant_cert.read_bytes()),
        )
    return Portal(
        "EPGU",
        Signer(pki.portal_rsa_key.read_bytes(), pki.portal_rsa_cert.read_bytes()),
        applicant=Signer(pki.applicant_key.read_bytes(), pki.applicant_cert.read_bytes()),
    )


def run_demo(url: str, data_dir: Path, cabinet_url: str, portal_suite: str = "rsa-ecdsa") -> None:
    """``portal_suite`` (``GATEWAY_DEV_PORTAL_SUITE``) is what EPGU signs with; one GOST-signed appeal is
    pushed either way where the OpenSSL GOST engine is installed."""
    pki = ensure_dev_pki(data_dir / "pki")
    gost_pki = ensure_gost_dev_pki(pki)
    tokens_file = data_dir / "dev" / "tokens.json"
    if not tokens_file.exists():
        raise typer.BadParameter(f"{tokens_file} is missing: start the hub with `make run` first")
    tokens = json.loads(tokens_file.read_text())
    if portal_suite == GOST.name and gost_pki is None:
        raise typer.BadParameter(f"EPGU is to sign with GOST, but {gost.unavailable_reason()}")
    portal = _portal(pki, gost_pki if portal_suite == GOST.name else None)
    before = _received(data_dir)  # what the dev SMTP server and SMSC hold from earlier runs

    with httpx.Client(base_url=url, timeout=30) as client:
        _step(
            "Portal pushes an individual's appeal about utility bills in Cheboksary; "
            "the applicant asked for e-mail and SMS notifications"
        )
        first = portal.envelope(sample_appeal(1, notification_channels=("cabinet", "email", "sms")))
        receipt = _show(push(client, first))

        _step("Portal pushes the same bytes again (a retry): the hub answers with the same receipt")
        _show(push(client, first))

        _step(
            "Portal pushes a legal entity's appeal, signed by its representative, with a scanned attachment"
        )
        scan = b"%PDF-1.4 demo scan\n" * 2000
        header = attachment_header("scan-1", "акт-проверки.pdf", "application/pdf", scan)
        appeal = sample_appeal(2, applicant_type=ApplicantType.LEGAL_ENTITY, attachments=(header,))
        legal = _show(
            push(
                client,
                portal.envelope(appeal, sign_as_applicant=True),
                {"scan-1": (header.file_name, scan, "application/pdf")},
            )
        )

        _step("Portal pushes an appeal on a topic no rule covers: it waits for an operator")
        orphan = _show(push(client, portal.envelope(sample_appeal(3, topic_code="0001.0001.0001.0001"))))

        _step("Someone tampers with a signed envelope: the hub refuses it with a precise reason")
        tampered = portal.envelope(sample_appeal(4)).replace("Прошу".encode(), "Требую".encode(), 1)
        _show(push(client, tampered))

        _step("Portal pushes an appeal signed with GOST R 34.10-2012 and Streebog, as SMEV 3 signs")
        if gost_pki is None:
            typer.echo(f"  skipped: {gost.unavailable_reason()}")
        else:
            _show(push(client, _portal(pki, gost_pki).envelope(sample_appeal(5))))

        _step("The EDMS of ADM-CHEBOKSARY pulls its mailbox, downloads attachments and acknowledges")
        edms = Edms(client, tokens["ADM-CHEBOKSARY"])
        messages = edms.pull(limit=10)
        for m in messages:
            typer.echo(
                f"  leased {m['message_id']} (appeal {m['appeal_id']}, delivery {m['delivery_count']})"
            )
            for a in m["attachments"]:
                size, digest = edms.download(a["href"])
                typer.echo(f"    attachment {a['n']}: {size} bytes, sha256 {digest[:16]}…")
        for result in edms.ack(messages):
            typer.echo(f"  ack {result['message_id']}: {result['status']}")

        _step("The EDMS registers the first appeal under its own number")
        number = f"ОГ-{date.today().year}/{uuid.uuid4().hex[:6]}"
        registered = edms.register(receipt["appeal_id"], number, date.today(), str(uuid.uuid4()))
        typer.echo("  " + json.dumps(registered, ensure_ascii=False))
        assigned = edms.send_event(receipt["appeal_id"], "assigned", str(uuid.uuid4()), executor="отдел ЖКХ")
        typer.echo(f"  assigned an executor: state {assigned['state']}, event #{assigned['seq']}")

        _step("The EDMS answers: an answer signed with the agency's registered key, with an attachment")
        act = b"%PDF-1.4 demo act of inspection\n" * 500
        document = sample_answer(receipt["appeal_id"], number, files={"act-1": act})
        key, cert = pki.agency_key.read_bytes(), pki.agency_cert.read_bytes()
        answered = edms.answer(  # the answer orders a recalculation: «поддержано, меры приняты»
            receipt["appeal_id"],
            str(uuid.uuid4()),
            document,
            key,
            cert,
            files={"act-1": act},
            result="supported-measures-taken",
        )
        typer.echo(f"  answered: state {answered['state']}, event #{answered['seq']}")

        _step("The portal fetches the answer's attachment with its own credentials")
        fetched = answer_attachment(client, tokens["EPGU"], receipt["appeal_id"], "act-1")
        typer.echo(
            f"  HTTP {fetched.status_code}: {len(fetched.content)} bytes, {fetched.headers['repr-digest']}"
        )

        _step("The applicant rates the answer in the cabinet; the portal relays the rating")
        _show(give_feedback(client, tokens["EPGU"], receipt["appeal_id"], str(uuid.uuid4()), 5, "Спасибо"))

        _step("The EDMS pulls the feedback notice; the agency's counts")
        notices = edms.pull(limit=10)
        for m in notices:
            typer.echo(
                f"  leased a {m['kind']} notice on appeal {m['appeal_id']}: rating {m['feedback']['rating']}"
            )
        edms.ack(notices)
        _show(client.get("/sed/v1/feedback", headers={"Authorization": f"Bearer {tokens['ADM-CHEBOKSARY']}"}))

        _collective_and_repeated(client, portal, edms, receipt["appeal_id"])

        _step(
            "A letter came to the city on paper: its EDMS uploads the status, the hub issues an access code"
        )
        paper_number = f"ОГ-{date.today().year}/П-{uuid.uuid4().hex[:4]}"
        (uploaded,) = edms.upload_statuses(
            [{"registration_number": paper_number, "registered_on": date.today().isoformat(),
              "channel": "post", "state": "registered", "at": datetime.now(UTC).isoformat()}]
        )  # fmt: skip
        typer.echo(f"  {uploaded['outcome']}: access code {uploaded['access_code']} (printed on the receipt)")
        _show(
            client.get("/public/v1/status", params={"number": paper_number, "code": uploaded["access_code"]})
        )

        _step("The legal entity's appeal is not the city's to answer: registered, then redirected")
        number = f"ОГ-{date.today().year}/{uuid.uuid4().hex[:6]}"
        edms.register(legal["appeal_id"], number, date.today(), str(uuid.uuid4()))
        redirected = edms.send_event(
            legal["appeal_id"],
            "redirected",
            str(uuid.uuid4()),
            target_agency="MINSTROY-21",
            reason="вопрос министерства",
        )
        typer.echo(f"  redirected to MINSTROY-21: state {redirected['state']}, event #{redirected['seq']}")

        _step("The legal entity withdraws its appeal before the ministry takes it up")
        _show(withdraw(client, tokens["EPGU"], legal["appeal_id"], str(uuid.uuid4()), "вопрос решён"))

        _step("An operator assigns the unrouted appeal to MINSTROY-21")
        operator = {"Authorization": f"Bearer {tokens['operator']}"}
        _show(client.get("/ops/v1/manual-routing", headers=operator))
        _show(
            client.post(
                f"/ops/v1/appeals/{orphan['appeal_id']}/assign",
                json={"agency_code": "MINSTROY-21"},
                headers=operator,
            )
        )

    _step(
        "The EDMS of MINSTROY-21 works over SOAP: zeep loads the WSDL, leases, acknowledges, "
        "registers what was not withdrawn"
    )
    soap = SoapEdms(url, "MINSTROY-21", tokens["MINSTROY-21"])
    try:
        messages = soap.pull(limit=10)
        withdrawn = {m["appeal_id"] for m in messages if m["kind"] == "withdrawal"}
        for m in messages:
            typer.echo(
                f"  leased {m['kind']} {m['message_id']} (appeal {m['appeal_id']}, "
                f"delivery {m['delivery_count']})"
            )
            typer.echo(f"  ack: {soap.ack_one(m['message_id'], m['lease_token'])}")
            if m["kind"] != "appeal" or m["appeal_id"] in withdrawn:
                continue
            number = f"МС-{date.today().year}/{uuid.uuid4().hex[:6]}"
            event = soap.register(m["appeal_id"], number, date.today(), str(uuid.uuid4()))
            typer.echo(f"  registered as {number}: state {event['state']}, event #{event['seq']}")
    finally:
        soap.close()
    with httpx.Client(base_url=url, timeout=30) as client:
        _emailed_appeals(client, data_dir, tokens, pki)
    _cabinet_view(url, cabinet_url, receipt["appeal_id"])
    _channels_view(url, data_dir, tokens["operator"], before)
    _analyst_report(url, data_dir, tokens.get("analyst"))
    typer.secho("\nDemo complete.", fg=typer.colors.GREEN)


def _emailed_appeals(client: httpx.Client, data_dir: Path, tokens: dict[str, str], pki: DevPki) -> None:
    """Two e-mails to the hub's appeals mailbox: one registered to an agency, which answers it; the
    other rejected. ``make run`` starts no IMAP server (a fresh machine has only Python), so the
    e-mails go into a Maildir under var/dev and are filed by the poller's own service entry
    (``incoming_mail.poll``) reading that Maildir instead of IMAP; from there on it is the hub's
    REST faces, as operators and agencies use them."""
    _step(
        "Two e-mails reach the hub's appeals mailbox (a Maildir under var/dev: make run runs no IMAP "
        "server); the poller files them for moderation"
    )
    maildir = data_dir / "dev" / "maildir"
    appeal_mail = _demo_email("Протекает крыша", "Иванов Иван Петрович", "ivanov@example.ru")
    unwanted = _demo_email("Предложение", "Сидоров Пётр", "sidorov@example.ru")
    box = mailbox.Maildir(maildir, create=True)
    for raw in (appeal_mail, unwanted):
        box.add(raw)
    with hub_session() as hub:
        demo_box = MailboxSettings(name="demo", host="localhost", username="demo")
        polled = incoming_mail.poll(hub, demo_box, maildir_opener(maildir))
    typer.echo(f"  filed {polled.filed}, quarantined {polled.quarantined}, failed {polled.failed}")
    if polled.filed != 2:
        typer.secho(f"  the e-mails were not filed ({polled.error or 'see the log'})", err=True, fg="red")
        raise typer.Exit(1)

    _step(
        "An operator registers one as an appeal to ADM-CHEBOKSARY and rejects the other: e-mail is no "
        "longer a legal channel for appeals (both senders are told by e-mail)"
    )
    operator = {"Authorization": f"Bearer {tokens['operator']}"}
    waiting = client.get("/ops/v1/incoming-mail", headers=operator).json()["messages"]
    ids = {m["subject"]: m["id"] for m in waiting if m["state"] == "waiting"}
    ours = _subject(appeal_mail)
    registration = {"agency_code": "ADM-CHEBOKSARY", "topic_code": "0005.0005.0056.1149",
                    "territory_code": "97701000"}  # fmt: skip
    appeal_id = _show(
        client.post(f"/ops/v1/incoming-mail/{ids[ours]}/register", json=registration, headers=operator)
    )["appeal_id"]
    _show(
        client.post(
            f"/ops/v1/incoming-mail/{ids[_subject(unwanted)]}/reject",
            json={"reason": "channel-not-allowed"}, headers=operator,
        )
    )  # fmt: skip

    _step(
        "The EDMS of ADM-CHEBOKSARY takes the e-mailed appeal (the e-mail itself is its evidence), "
        "registers and answers it: the sender gets the number, the code and the answer by e-mail"
    )
    edms = Edms(client, tokens["ADM-CHEBOKSARY"])
    messages = edms.pull(limit=10)
    edms.ack(messages)
    (taken,) = [m for m in messages if m["appeal_id"] == appeal_id]
    typer.echo(f"  leased appeal {appeal_id}: identity {taken['appeal']['identity']['provider']}")
    number = f"ОГ-{date.today().year}/Э-{uuid.uuid4().hex[:4]}"
    edms.register(appeal_id, number, date.today(), str(uuid.uuid4()))
    document = sample_answer(appeal_id, number)
    key, cert = pki.agency_key.read_bytes(), pki.agency_cert.read_bytes()
    answered = edms.answer(appeal_id, str(uuid.uuid4()), document, key, cert, result="explained")
    typer.echo(f"  registered as {number}, answered: state {answered['state']}")


def _demo_email(subject: str, name: str, address: str) -> bytes:
    """An e-mail as a citizen's mail program sends it; a fresh Message-ID each run (filed once)."""
    message = EmailMessage()
    message["From"] = f"{name} <{address}>"
    message["To"] = "obrashcheniya@appeals.example.ru"
    message["Subject"] = f"{subject} ({uuid.uuid4().hex[:4]})"
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = make_msgid(domain="mail.example.ru")
    message.set_content("Прошу принять меры: протекает крыша над квартирой 12, дом 5, ул. Ленина.")
    return bytes(message)


def _subject(raw: bytes) -> str:
    return str(message_from_bytes(raw, policy=policy.default)["Subject"])


def _received(data_dir: Path) -> tuple[set[str], int]:
    """The e-mails (file names) and SMS parts (lines) the dev SMTP server and SMSC hold now."""
    mail = {p.name for p in (data_dir / "dev" / "mail").glob("*.eml")}
    sms = data_dir / "dev" / "sms.jsonl"
    return mail, len(sms.read_text(encoding="utf-8").splitlines()) if sms.exists() else 0


def _channels_view(url: str, data_dir: Path, operator_token: str, before: tuple[set[str], int]) -> None:
    """What the applicants' mailboxes and phones received during this run: ``make run``'s SMTP
    server keeps each e-mail in var/dev/mail, its fake SMSC each SMS part in var/dev/sms.jsonl."""
    _step("What reached the applicants by e-mail and SMS (make run's SMTP server and fake SMSC)")
    if not (data_dir / "dev" / "mail").exists() and not (data_dir / "dev" / "sms.jsonl").exists():
        typer.echo("  no dev SMTP server or SMSC under var/dev (make run starts them): skipped")
        return
    operator = {"Authorization": f"Bearer {operator_token}"}
    for _ in range(300):  # the worker sends within moments of each event; a busy machine, a minute
        open_ = httpx.get(f"{url}/ops/v1/deliveries", headers=operator, timeout=10).json()["connectors"]
        if not [c for c in open_ if c["connector"].startswith("applicant-") and c["pending"] + c["in_flight"]
                + c["retrying"]]:  # fmt: skip
            break
        time.sleep(0.2)
    mail_before, sms_before = before
    for path in sorted((data_dir / "dev" / "mail").glob("*.eml")):
        if path.name in mail_before:
            continue
        mail = message_from_bytes(path.read_bytes(), policy=policy.default)
        attached = [a.get_filename() for a in mail.iter_attachments()]  # type: ignore[attr-defined]
        also = f"  [attached: {', '.join(attached)}]" if attached else ""
        typer.echo(f"  e-mail to {mail['To']}: {mail['Subject']}{also}")
    sms_file = data_dir / "dev" / "sms.jsonl"
    lines = sms_file.read_text(encoding="utf-8").splitlines()[sms_before:] if sms_file.exists() else []
    parts = [json.loads(line) for line in lines]
    texts: dict[tuple[str, int], list[dict]] = {}
    for part in parts:
        texts.setdefault((part["to"], part["reference"] or hash(part["message_id"])), []).append(part)
    for (to, _), pieces in texts.items():
        text = "".join(p["text"] for p in sorted(pieces, key=lambda p: p["part"]))
        typer.echo(f"  SMS to +{to}: {text}")


def _collective_and_repeated(client: httpx.Client, portal: Portal, edms: Edms, first_id: str) -> None:
    """A collective appeal (envelope 1.1) and a repeated one (linked at intake), as the agency sees
    them; the repeat declined as repeated, citing the first appeal."""
    _step("Three neighbours sign one appeal (a collective one); the third signatory is the contact")
    # Applicant 6, not 5: the GOST push was applicant 5's on the same topic, so this would be linked
    # to it as a repeat too.
    collective = portal.envelope(sample_appeal(6, co_applicants=sample_co_applicants(2, contact=1)))
    _show(push(client, collective))

    _step("The first applicant asks the same question again: the hub links it to the first appeal")
    repeat = _show(push(client, portal.envelope(sample_appeal(1))))

    _step("The EDMS pulls both: the co-applicants and their contact; the link to the earlier appeal")
    for m in edms.pull(limit=10):
        appeal = m["appeal"]
        if appeal["co_applicants"]:
            contact = next(c for c in appeal["co_applicants"] if c["contact"])
            identity = f"{contact['identity_provider']} {contact['subject_id']}"
            typer.echo(
                f"  appeal {m['appeal_id']}: {1 + len(appeal['co_applicants'])} applicants, "
                f"contact {contact['person']['last_name']} ({identity})"
            )
        for earlier in appeal["earlier_appeals"]:
            typer.echo(
                f"  appeal {m['appeal_id']} repeats {earlier['appeal_id']} "
                f"({earlier['registration_number']}, {earlier['state']})"
            )
        edms.ack([m])

    _step("The EDMS registers the repeat and declines it as repeated, citing the first appeal")
    number = f"ОГ-{date.today().year}/{uuid.uuid4().hex[:6]}"
    edms.register(repeat["appeal_id"], number, date.today(), str(uuid.uuid4()))
    declined = edms.send_event(
        repeat["appeal_id"], "declined", str(uuid.uuid4()), ground="repeated", earlier_appeal_id=first_id
    )
    typer.echo(f"  declined as repeated: state {declined['state']}, event #{declined['seq']}")


def _analyst_report(url: str, data_dir: Path, token: str | None) -> None:
    """The region's analyst takes this month's report of what the demo just did (docs/analytics.md)."""
    _step("The region's analyst takes this month's report: HTML with charts and an XLSX workbook")
    if token is None:
        typer.echo("  no analyst token in var/dev/tokens.json (restart `make run` to make one): skipped")
        return
    month = date.today().strftime("%Y-%m")
    out = data_dir / "reports"
    out.mkdir(parents=True, exist_ok=True)
    auth = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=url, timeout=60, headers=auth) as client:
        html = client.get("/analytics/v1/report.html", params={"period": month})
        xlsx = client.get("/analytics/v1/overview", params={"period": month, "format": "xlsx"})
        by_result = client.get("/analytics/v1/reports", params={"period": month, "by": "result"})
    for response in (html, xlsx, by_result):
        response.raise_for_status()
    total = by_result.json()["total"]
    (out / f"report-{month}.html").write_text(html.text, encoding="utf-8")
    (out / f"report-{month}.xlsx").write_bytes(xlsx.content)
    typer.echo(
        f"  {month}: received {total['received']}, answered {total['answered']}, "
        f"rated {total['rated']} (average {total['average_rating']}), repeated {total['repeated']} "
        f"(declined as repeated {total['declined_repeated']}), collective {total['collective']} "
        f"({total['co_applicants']} co-applicants)"
    )
    results = [f"{r['result'] or 'none yet'} {r['received']}" for r in by_result.json()["rows"]]
    typer.echo(f"  by result category: {', '.join(results)}")
    typer.echo(f"  written: {out / f'report-{month}.html'}")
    typer.echo(f"  written: {out / f'report-{month}.xlsx'}")


def _cabinet_view(url: str, cabinet_url: str, appeal_id: str) -> None:
    """What reached the citizen: the cabinet's copy of every update (delivered by the worker), what
    it shows the applicant from its newest update alone (contract 2: self-contained, so updates
    that arrived late lose nothing), and the public status lookup with that number and code."""
    _step("The citizen's cabinet has every update, signed by the hub (delivered by the worker)")
    state: dict = {}
    for _ in range(50):  # the worker delivers within a moment of each event
        try:
            state = httpx.get(f"{cabinet_url}/_state/{appeal_id}", timeout=5).json()
        except httpx.TransportError:
            typer.echo(f"  no cabinet at {cabinet_url} (make run starts a fake one): skipped")
            return
        if state.get("state") == "answered" and len(state["history"]) >= state["seq"]:
            break  # updates may arrive out of order; the cabinet keeps the newest as its state
        time.sleep(0.2)
    for item in state.get("history", []):  # in arrival order
        update = item["update"]
        typer.echo(f"  #{update['seq']} {update['type']:<11} → {update['state']:<11} ({item['outcome']})")
    shown = state.get("shown") or {}
    typer.echo(
        f"  the cabinet shows, from update #{state.get('seq')} alone: "
        f"number {shown.get('registration_number')}, access code {shown.get('access_code')}, "
        f"state {shown.get('state')}"
    )
    if shown.get("access_code") and shown.get("registration_number"):
        _step("Anyone with the number and the access code (from the cabinet) checks the status")
        params = {"number": shown["registration_number"], "code": shown["access_code"]}
        _show(httpx.get(f"{url}/public/v1/status", params=params, timeout=10))
