"""The analytics cube is kept by the database as appeals and events commit, and reports read it."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from gateway.domain.analytics import MEASURES, Dimension, parse_period
from gateway.domain.errors import Rejection
from gateway.service import analytics, mailbox
from tests.analytics_data import (
    AGENCY,
    UTILITIES,
    event,
    make_appeals,
    make_repeated_and_collective,
    push,
    region_today,
    this_month,
)
from tests.answered import agency_today

CUBE_MEASURES = [m for m in MEASURES if m != "open_overdue"]


CUBES = {  # each table's key, and how the facts' columns read as it keeps them
    "monthly": ("topic_code, territory_code, agency_code, channel, applicant_type, result", "f.*"),
    "monthly_place": ("topic_code, territory_code", "topic_code, left(territory_code, 5) AS territory_code"),
    "monthly_agency": ("agency_code, channel, applicant_type, result", "f.*"),
}


def _cube_is_the_facts_summed(hub) -> None:
    """Every cell of the cube and of its rollups equals the sum of its facts' measures: the
    incremental deltas never drift from a full recount."""
    sums = ", ".join(f"sum({m})::bigint AS {m}" for m in CUBE_MEASURES)
    analytics.fold(hub)
    with hub.pool.connection() as conn:
        assert conn.execute("SELECT count(*) AS n FROM analytics.cube_delta").fetchone()["n"] == 0
        for table, (key, kept) in CUBES.items():
            keys = "month, " + key
            cube = conn.execute(f"SELECT {keys}, {sums} FROM analytics.{table} WHERE received <> 0 "
                                f"GROUP BY {keys} ORDER BY {keys}").fetchall()  # fmt: skip
            recount = conn.execute(
                f"SELECT {keys}, {sums} FROM (SELECT date_trunc('month', received_on)::date AS month, "
                f"{kept}, (analytics.measures_of(f)).* FROM analytics.appeal_fact f) x "
                f"GROUP BY {keys} ORDER BY {keys}"
            ).fetchall()
            assert cube == recount and cube, table


def test_the_cube_follows_every_event_and_reports_count_it(hub, portal, dev_pki):
    make_appeals(hub, portal, dev_pki)
    _cube_is_the_facts_summed(hub)

    by_section = analytics.report(hub, parse_period(this_month()), (Dimension.SECTION,))
    rows = {r["section"]: r for r in by_section.rows}
    assert {s: (r["section_name"], r["received"]) for s, r in rows.items()} == {
        "0005": ("Жилищно-коммунальная сфера", 5),
        "0003": ("Экономика", 1),
    }
    housing = rows["0005"]
    assert (housing["registered"], housing["answered"], housing["declined"]) == (3, 2, 1)
    assert (housing["answered_on_time"], housing["answered_late"], housing["rated"]) == (2, 0, 2)
    assert (housing["rating_5"], housing["rating_3"], housing["average_rating"]) == (1, 1, 4.0)
    assert by_section.total["received"] == 6

    by_result = analytics.report(hub, parse_period(this_month()), (Dimension.AGENCY, Dimension.RESULT))
    counted = {(r["agency"], r["result"]): r["received"] for r in by_result.rows if r["agency"] == AGENCY}
    assert counted == {
        (AGENCY, "explained"): 1, (AGENCY, "supported-measures-taken"): 1,
        (AGENCY, "left-without-answer"): 1,
    }  # fmt: skip
    names = {r["result"]: r["result_name"] for r in by_result.rows}
    assert names["explained"] == "разъяснено"


def test_a_period_of_days_reads_the_facts_and_agrees_with_the_months_cube(hub, portal, dev_pki):
    make_appeals(hub, portal, dev_pki)
    today = region_today()
    by = (Dimension.MUNICIPALITY, Dimension.CHANNEL)
    month = analytics.report(hub, parse_period(this_month()), by)
    for days in (today, f"{today}..{today}", f"{this_month()}-01..{today}"):
        assert analytics.report(hub, parse_period(days), by).rows == month.rows, days
    named = {r["municipality"]: r["municipality_name"] for r in month.rows}
    assert named == {"97701": "город Чебоксары", "97610": None}  # no sample entry: shown by its digits


def test_a_redirect_and_an_extension_count_in_timeliness(hub, portal, dev_pki):
    make_appeals(hub, portal, dev_pki)
    appeal_id = push(hub, portal, 7, UTILITIES, "97701000")
    for leased in mailbox.lease(hub, AGENCY, 10):
        mailbox.acknowledge_one(hub, AGENCY, mailbox.Ack(leased.message_id, leased.lease_token))
    event(hub, appeal_id, "r", "registered", registration_number="А-7", registered_on=agency_today())
    event(hub, appeal_id, "x", "extended", new_due_date=(date.today() + timedelta(days=45)).isoformat(),
           reason="проверка")  # fmt: skip
    event(hub, appeal_id, "y", "redirected", target_agency="MINSTROY-21", reason="не наш")
    report = analytics.report(hub, parse_period(this_month()), (Dimension.AGENCY,))
    (ministry,) = [r for r in report.rows if r["agency"] == "MINSTROY-21"]
    assert (ministry["received"], ministry["redirected"], ministry["redirected_in_time"]) == (3, 1, 1)
    assert ministry["extended"] == 1
    _cube_is_the_facts_summed(hub)


NEW_COUNTS = ("repeated", "collective", "co_applicants", "declined_repeated")


def test_repeated_and_collective_appeals_are_counted(hub, portal, dev_pki):
    make_appeals(hub, portal, dev_pki)  # six appeals, none linked or collective; one declined as repeated
    make_repeated_and_collective(hub, portal)
    _cube_is_the_facts_summed(hub)

    month = analytics.report(hub, parse_period(this_month()), (Dimension.MUNICIPALITY,))
    assert month.total["received"] == 9
    # the agency's own decline as repeated counts whether or not the hub had linked the appeal
    assert tuple(month.total[m] for m in NEW_COUNTS) == (1, 1, 2, 2)
    rows = {r["municipality"]: r for r in month.rows}
    assert tuple(rows["97701"][m] for m in NEW_COUNTS) == (1, 0, 0, 2)
    assert tuple(rows["97610"][m] for m in NEW_COUNTS) == (0, 1, 2, 0)
    days = parse_period(f"{this_month()}-01..{region_today()}")
    assert analytics.report(hub, days, (Dimension.MUNICIPALITY,)).rows == month.rows  # the facts' way

    with hub.pool.connection() as conn:
        view = conn.execute(
            "SELECT sum(repeated) AS r, sum(collective) AS c, sum(co_applicants) AS p, "
            "sum(declined_repeated) AS d FROM analytics.v1_monthly"
        ).fetchone()
        columns = [r["column_name"] for r in conn.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = 'analytics' AND table_name = 'v1_monthly' ORDER BY ordinal_position"
        )]  # fmt: skip
    assert tuple(view.values()) == (1, 1, 2, 2)
    assert columns == V1_MONTHLY_0021 + list(NEW_COUNTS)  # version 1 only grew at its end


# The columns of analytics.v1_monthly as migration 0021 made them: BI queries rely on them.
V1_MONTHLY_0021 = [
    "month", "section_code", "theme_code", "topic_code", "question_code", "section_name", "region_code",
    "territory_code", "municipality_name", "agency_code", "agency_name", "channel", "applicant_type",
    "result", "received", "registered", "registered_on_time", "answered", "answered_on_time",
    "answered_late", "declined", "extended", "redirected", "redirected_in_time", "rated", "rating_sum",
    "rating_1", "rating_2", "rating_3", "rating_4", "rating_5",
]  # fmt: skip


def test_the_migration_counts_the_repeated_and_collective_appeals_already_there(
    server_url, settings, registry, portal
):
    """Appeals stored under migration 0021 (before the counts existed) are counted by 0022's backfill,
    and the cube still equals the facts recounted."""
    import uuid
    from urllib.parse import urlsplit, urlunsplit

    import psycopg
    from yoyo import get_backend, read_migrations

    from gateway.adapters.db import MIGRATIONS_DIR, migrate
    from gateway.service.hub import open_hub
    from gateway.service.registry import load_registry

    name = f"gw_an22_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = urlunsplit(urlsplit(server_url)._replace(path="/" + name))
    try:
        backend = get_backend(url.replace("postgresql://", "postgresql+psycopg://", 1))
        with backend.lock():
            migrations = read_migrations(str(MIGRATIONS_DIR)).filter(lambda m: m.id < "0022")
            backend.apply_migrations(backend.to_apply(migrations))
        old = open_hub(settings.model_copy(update={"database_url": url}), apply_migrations=False)
        try:
            load_registry(old, registry[0], actor="tests")
            make_repeated_and_collective(old, portal)
            migrate(url)
            _cube_is_the_facts_summed(old)
            report = analytics.report(old, parse_period(this_month()), (Dimension.AGENCY,))
        finally:
            old.close()
        assert tuple(report.total[m] for m in NEW_COUNTS) == (1, 1, 2, 1)
    finally:
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_a_bad_reference_file_changes_nothing(hub, tmp_path):
    bad = tmp_path / "classifier.csv"
    bad.write_text("code,name\n0005,ЖКХ\n5,not a code\n", encoding="utf-8")
    with pytest.raises(Rejection):
        analytics.load_reference(hub, classifier=bad, territories=None, actor="tests")


def test_bi_tools_read_the_v1_views_and_nothing_else(hub, portal, dev_pki, database_url):
    """A login granted ``analytics_reader`` (what Superset or Metabase connect as) sees the views,
    not the appeals."""
    import uuid

    import psycopg
    from psycopg import sql

    make_appeals(hub, portal, dev_pki)
    analytics.fold(hub)  # as the relay does on its timer: the views show the folded cube
    login = f"bi_test_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(database_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE ROLE {} LOGIN IN ROLE analytics_reader").format(sql.Identifier(login)))
    try:
        with psycopg.connect(database_url, user=login, autocommit=True) as bi:
            received = bi.execute("SELECT sum(received) FROM analytics.v1_monthly").fetchone()[0]
            assert received == 6
            named = bi.execute("SELECT DISTINCT section_name FROM analytics.v1_monthly ORDER BY 1").fetchall()
            assert ("Жилищно-коммунальная сфера",) in named
            for forbidden in ("SELECT * FROM appeal", "SELECT * FROM analytics.appeal_fact"):
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    bi.execute(forbidden)
    finally:
        with psycopg.connect(database_url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(login)))


def test_the_relays_timer_folds_the_deltas_as_they_come(hub, portal, dev_pki):
    import threading
    import time

    stop = threading.Event()
    timer = threading.Thread(target=analytics.PeriodicFold(hub, 0.05, stop).run)
    timer.start()
    try:
        make_appeals(hub, portal, dev_pki)
        deadline = time.monotonic() + 10
        with hub.pool.connection() as conn:
            while conn.execute("SELECT count(*) AS n FROM analytics.cube_delta").fetchone()["n"]:
                assert time.monotonic() < deadline, "the deltas were never folded"
                time.sleep(0.05)
            received = conn.execute("SELECT sum(received) AS n FROM analytics.monthly").fetchone()["n"]
    finally:
        stop.set()
        timer.join()
    assert received == 6
