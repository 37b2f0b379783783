"""``appeals-gateway sms-receipts``: the process that takes the SMSC's delivery receipts."""

from __future__ import annotations

import signal
import threading

import structlog

from gateway.config import get_settings

log = structlog.get_logger(__name__)


def sms_receipts() -> None:
    """Bind to the SMSC as a receiver and record every delivery receipt until stopped.

    One per SMSC account (SMSCs send an account's receipts to any one of its receiver binds).
    """
    from connectors.mail.sms.receipts import ReceiptListener
    from gateway.faces.worker.connectors import smsc_account
    from gateway.service.hub import open_hub
    from gateway.service.sms import receipt_recorder

    settings = get_settings()
    account = smsc_account(settings)
    hub = open_hub(settings, apply_migrations=False)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    log.info(
        "sms receipt listener starting",
        smsc=f"{account.host}:{account.port}",
        bind=settings.smpp_receipts_bind,
    )
    try:
        ReceiptListener(account, receipt_recorder(hub), bind=settings.smpp_receipts_bind).run(stop)
    finally:
        hub.close()
