"""SQL for the agency registry: agencies, their credentials and routing rules, and portal senders."""

from __future__ import annotations

from psycopg import Connection

from gateway.domain.model import (
    Agency,
    DeliveryMode,
    Jurisdiction,
    JurisdictionProfile,
    PortalSender,
    RoutingRule,
)
from gateway.domain.routing import agency_rules


def upsert_sender(
    conn: Connection, sender: PortalSender, token_hashes: list[str], cert_fingerprints: list[str]
) -> None:
    """Write one portal sender; its credentials are replaced by what the registry says now."""
    conn.execute(
        """INSERT INTO portal_sender (id, jurisdiction, certificate_cn) VALUES (%s, %s, %s)
           ON CONFLICT (id) DO UPDATE SET jurisdiction = EXCLUDED.jurisdiction,
                                          certificate_cn = EXCLUDED.certificate_cn""",
        (sender.id, sender.jurisdiction.value, sender.certificate_cn),
    )
    conn.execute("DELETE FROM portal_credential WHERE sender_id = %s", (sender.id,))
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO portal_credential (kind, secret_hash, sender_id) VALUES (%s, %s, %s)",
            [("token", h, sender.id) for h in token_hashes]
            + [("cert-fingerprint", f, sender.id) for f in cert_fingerprints],
        )


def upsert_agency(
    conn: Connection, agency: Agency, token_hashes: list[str], cert_fingerprints: list[str]
) -> None:
    """Write one agency; its rules and credentials are replaced by what the registry says now."""
    conn.execute(
        """INSERT INTO agency (code, name, jurisdiction_profile, timezone, delivery_mode, push_url,
                               answer_certificate, updated_at)
           VALUES (%s, %s, %s, %s, %s, %s, %s, now())
           ON CONFLICT (code) DO UPDATE SET
             name = EXCLUDED.name, jurisdiction_profile = EXCLUDED.jurisdiction_profile,
             timezone = EXCLUDED.timezone, delivery_mode = EXCLUDED.delivery_mode,
             push_url = EXCLUDED.push_url, answer_certificate = EXCLUDED.answer_certificate,
             updated_at = now()""",
        (
            agency.code,
            agency.name,
            agency.jurisdiction_profile.value,
            agency.timezone,
            agency.delivery_mode.value,
            agency.push_url,
            agency.answer_certificate,
        ),
    )
    conn.execute("DELETE FROM routing_rule WHERE agency_code = %s", (agency.code,))
    conn.execute("DELETE FROM agency_credential WHERE agency_code = %s", (agency.code,))
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO routing_rule (agency_code, topic_prefix, territory_prefix) VALUES (%s, %s, %s)",
            [(r.agency_code, r.topic_prefix, r.territory_prefix) for r in agency_rules(agency)],
        )
        cur.executemany(
            "INSERT INTO agency_credential (kind, secret_hash, agency_code) VALUES (%s, %s, %s)",
            [("token", h, agency.code) for h in token_hashes]
            + [("cert-fingerprint", f, agency.code) for f in cert_fingerprints],
        )


def senders(conn: Connection) -> dict[str, PortalSender]:
    rows = conn.execute("SELECT id, jurisdiction, certificate_cn FROM portal_sender").fetchall()
    return {
        r["id"]: PortalSender(r["id"], Jurisdiction(r["jurisdiction"]), r["certificate_cn"]) for r in rows
    }


def routing_table(conn: Connection) -> tuple[list[RoutingRule], frozenset[str]]:
    """All routing rules and the set of known agency codes (for the addressee check)."""
    rules = [
        RoutingRule(r["agency_code"], r["topic_prefix"], r["territory_prefix"])
        for r in conn.execute("SELECT agency_code, topic_prefix, territory_prefix FROM routing_rule")
    ]
    codes = frozenset(r["code"] for r in conn.execute("SELECT code FROM agency"))
    return rules, codes


def agency_clocks(conn: Connection) -> dict[str, tuple[JurisdictionProfile, str]]:
    """Each agency's jurisdiction profile and time zone: what its legal clock runs on."""
    rows = conn.execute("SELECT code, jurisdiction_profile, timezone FROM agency").fetchall()
    return {r["code"]: (JurisdictionProfile(r["jurisdiction_profile"]), r["timezone"]) for r in rows}


def push_agencies(conn: Connection) -> frozenset[str]:
    """Codes of the agencies whose appeals are pushed to their endpoint rather than pulled."""
    rows = conn.execute("SELECT code FROM agency WHERE delivery_mode = 'push-soap'").fetchall()
    return frozenset(r["code"] for r in rows)


def agency_by_credential(conn: Connection, kind: str, secret_hash: str) -> str | None:
    row = conn.execute(
        "SELECT agency_code FROM agency_credential WHERE kind = %s AND secret_hash = %s", (kind, secret_hash)
    ).fetchone()
    return row["agency_code"] if row else None


def portal_by_credential(conn: Connection, kind: str, secret_hash: str) -> str | None:
    row = conn.execute(
        "SELECT sender_id FROM portal_credential WHERE kind = %s AND secret_hash = %s", (kind, secret_hash)
    ).fetchone()
    return row["sender_id"] if row else None


def get_agency(conn: Connection, code: str) -> Agency | None:
    row = conn.execute("SELECT * FROM agency WHERE code = %s", (code,)).fetchone()
    if row is None:
        return None
    return Agency(
        code=row["code"],
        name=row["name"],
        jurisdiction_profile=JurisdictionProfile(row["jurisdiction_profile"]),
        timezone=row["timezone"],
        delivery_mode=DeliveryMode(row["delivery_mode"]),
        push_url=row["push_url"],
        answer_certificate=row["answer_certificate"],
    )
