"""Which connector carries a delivery: built from the settings and the agency registry.

The service layer asks by the outbox message's connector name (and payload, for the agency a
push goes to); this is where names meet configured endpoints and the hub's signing key.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from functools import cached_property
from typing import Any

from gateway.adapters.db import agencies as agencies_db
from gateway.config import Settings
from gateway.domain.delivery import Connector, DeliveryError
from gateway.domain.model import DeliveryMode
from gateway.service.cabinet_updates import CABINET
from gateway.service.hub import Hub
from gateway.service.notifications import APPLICANT_MAIL, APPLICANT_SMS
from gateway.service.push import SED_PUSH


class ConnectorRegistry:
    """One connector per receiver and process, built on first use."""

    def __init__(self, settings: Settings, hub: Hub) -> None:
        self._settings = settings
        self._hub = hub
        self._lock = threading.Lock()
        self._pushes: dict[tuple[str, str], Connector] = {}

    def resolve(self, name: str, payload: Mapping[str, Any]) -> Connector:
        if name == CABINET:
            return self._cabinet
        if name == SED_PUSH:
            return self._push(str(payload["agency_code"]))
        if name == APPLICANT_SMS:
            return self._sms
        if name == APPLICANT_MAIL:
            return self._mail
        raise DeliveryError(f"no connector named {name!r} in this hub", permanent=True)

    @cached_property
    def _signing_key(self) -> tuple[bytes, bytes]:
        return self._settings.hub_key_file.read_bytes(), self._settings.hub_certificate_file.read_bytes()

    @cached_property
    def _cabinet(self) -> Connector:
        settings = self._settings
        if not settings.cabinet_url:
            raise DeliveryError("GATEWAY_CABINET_URL is not configured", permanent=True)
        key, cert = self._signing_key
        if settings.cabinet_protocol == "soap":
            from connectors.portal.cabinet_soap import CabinetSoapConnector

            return CabinetSoapConnector(
                settings.cabinet_url, key, cert, timeout=settings.delivery_timeout_seconds,
                contract=settings.cabinet_contract,
            )  # fmt: skip
        from connectors.portal.cabinet_rest import CabinetRestConnector

        return CabinetRestConnector(
            settings.cabinet_url, key, cert, timeout=settings.delivery_timeout_seconds,
            contract=settings.cabinet_contract,
        )  # fmt: skip

    @cached_property
    def _sms(self) -> Connector:
        from connectors.mail.sms.connector import SmppConnector
        from gateway.adapters.db.sms import SmsSubmissions

        return SmppConnector(smsc_account(self._settings), SmsSubmissions(self._hub.pool))

    @cached_property
    def _mail(self) -> Connector:
        settings = self._settings
        if not settings.smtp_host:
            raise DeliveryError("GATEWAY_SMTP_HOST is not configured", permanent=True)
        import ssl

        from connectors.mail.smtp import SmtpConnector

        context = ssl.create_default_context(cafile=settings.smtp_ca_file)
        return SmtpConnector(
            settings.smtp_host, port=settings.smtp_port, security=settings.smtp_security,
            user=settings.smtp_user, password=settings.smtp_password, sender=settings.mail_from,
            timeout=settings.delivery_timeout_seconds, ssl_context=context,
        )  # fmt: skip

    def _push(self, agency_code: str) -> Connector:
        """The agency's push connector; rebuilt when the registry gives it another endpoint."""
        with self._hub.pool.connection() as conn:
            agency = agencies_db.get_agency(conn, agency_code)
        if agency is None or agency.delivery_mode is not DeliveryMode.PUSH_SOAP or not agency.push_url:
            raise DeliveryError(f"agency {agency_code} is not registered for push-soap", permanent=True)
        with self._lock:
            connector = self._pushes.get((agency_code, agency.push_url))
            if connector is None:
                from connectors.sed.push import SoapPushConnector

                key, cert = self._signing_key
                connector = SoapPushConnector(
                    endpoint=agency.push_url, hub_key_pem=key, hub_cert_pem=cert,
                    timeout=self._settings.delivery_timeout_seconds,
                )  # fmt: skip
                self._pushes[(agency_code, agency.push_url)] = connector
            return connector


def smsc_account(settings: Settings):
    """The SMSC account from the settings; DeliveryError (permanent) when none is configured."""
    import ssl

    from connectors.mail.sms.smpp import SmscAccount

    if not settings.smpp_host or not settings.smpp_system_id or not settings.smpp_source_addr:
        raise DeliveryError(
            "GATEWAY_SMPP_HOST, GATEWAY_SMPP_SYSTEM_ID and GATEWAY_SMPP_SOURCE_ADDR are not configured",
            permanent=True,
        )
    tls = None
    if settings.smpp_tls:
        tls = ssl.create_default_context(cafile=str(settings.smpp_ca) if settings.smpp_ca else None)
    return SmscAccount(
        host=settings.smpp_host, port=settings.smpp_port, system_id=settings.smpp_system_id,
        password=settings.smpp_password, system_type=settings.smpp_system_type,
        source_addr=settings.smpp_source_addr, source_addr_ton=settings.smpp_source_addr_ton,
        source_addr_npi=settings.smpp_source_addr_npi, tls=tls, timeout=settings.smpp_timeout_seconds,
        validity_hours=settings.smpp_validity_hours,
    )  # fmt: skip
