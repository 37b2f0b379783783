"""Reading the analytics cube (migrations 0021, 0022) and loading its reference tables.

A report reads the cube for the period's whole months and the per-appeal facts only for the days
around them (at most two partial months), plus the open appeals already past due (a partial
index keeps those few). Territories are named after grouping: the cube has a few hundred distinct
territory codes, so each is matched against the reference prefixes once, not once per row.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from psycopg import Connection, sql
from psycopg.rows import tuple_row

from gateway.domain.analytics import (
    MEASURES,
    TERRITORY_FALLBACK,
    TERRITORY_LEVELS,
    TOPIC_LEVELS,
    Dimension,
    Period,
)

_CUBE_MEASURES = [m for m in MEASURES if m != "open_overdue"]


@dataclass(frozen=True, slots=True)
class Cube:
    """One of the cube's tables: what it keeps of the facts' columns (each an expression over
    ``analytics.appeal_fact``, so the partial months' facts read exactly as its rows do)."""

    table: str
    columns: dict[str, str]


FULL = Cube(
    "monthly",
    {c: c for c in ("topic_code", "territory_code", "agency_code", "channel", "applicant_type", "result")},
)
PLACE = Cube("monthly_place", {"topic_code": "topic_code", "territory_code": "left(territory_code, 5)"})
AGENCY = Cube("monthly_agency", {c: c for c in ("agency_code", "channel", "applicant_type", "result")})
PLACE_DIGITS = 5  # the territory digits monthly_place keeps
_COLUMN = {Dimension.AGENCY: "agency_code", Dimension.CHANNEL: "channel",
           Dimension.APPLICANT_TYPE: "applicant_type", Dimension.RESULT: "result"}  # fmt: skip


def choose_cube(conn: Connection, dims: Iterable[Dimension]) -> Cube:
    """The smallest table that keeps every dimension asked for. Territories are named by reference
    prefixes; the place rollup keeps 5 digits, so it serves them while no prefix is longer."""
    needed = {"topic_code" if d in TOPIC_LEVELS else "territory_code" if d in TERRITORY_LEVELS
              else _COLUMN.get(d) for d in dims} - {None}  # fmt: skip
    if needed <= PLACE.columns.keys():
        if "territory_code" not in needed:
            return PLACE
        longest = conn.execute("SELECT coalesce(max(length(code_prefix)), 0) AS n FROM analytics.territory")
        if longest.fetchone()["n"] <= PLACE_DIGITS:
            return PLACE
    if needed <= AGENCY.columns.keys():
        return AGENCY
    return FULL


def _raw_key(dim: Dimension) -> sql.Composable:
    """The dimension as an expression over the cube's (or the facts') own columns."""
    if dim in TOPIC_LEVELS:
        return sql.SQL("left(topic_code, {})").format(sql.Literal(TOPIC_LEVELS[dim]))
    if dim in TERRITORY_LEVELS:
        return sql.Identifier("territory_code")  # named after grouping
    if dim is Dimension.MONTH:
        return sql.SQL("to_char(month, 'YYYY-MM')")
    column = {Dimension.AGENCY: "agency_code"}.get(dim, dim.value)
    return sql.Identifier(column)


def _source(cube: Cube, period: Period, today: date) -> tuple[sql.Composable, dict[str, Any]]:
    """Rows of (dimensions, measures) from the cube's whole months, the edges' facts and the open
    appeals past due, all received in the period."""
    first, stop = period.whole_months()
    cube_measures = sql.SQL(", ").join(sql.Identifier(m) for m in _CUBE_MEASURES)
    fact_measures = sql.SQL(", ").join(sql.SQL("(m).{}").format(sql.Identifier(m)) for m in _CUBE_MEASURES)
    zeros = sql.SQL(", ").join(sql.SQL("0") for _ in _CUBE_MEASURES)
    raw = sql.SQL(", ").join(sql.Identifier(c) for c in cube.columns)
    # The facts' columns as the cube keeps them (sql.SQL: fixed expressions of this module).
    as_kept = sql.SQL(", ").join(
        sql.SQL("{} AS {}").format(sql.SQL(expr), sql.Identifier(c)) for c, expr in cube.columns.items()
    )
    params: dict[str, Any] = {"first": first, "stop": stop, "start": period.start, "end": period.end}
    edges = period.edges()
    edge_filter = sql.SQL(" OR ").join(
        sql.SQL("(f.received_on >= {} AND f.received_on < {})").format(
            sql.Placeholder(f"e{i}a"), sql.Placeholder(f"e{i}b")
        )
        for i, _ in enumerate(edges)
    )
    for i, (a, b) in enumerate(edges):
        params[f"e{i}a"], params[f"e{i}b"] = a, b
    params["today"] = today
    query = sql.SQL(
        """
        SELECT month, {raw}, {cube_measures}, 0 AS open_overdue
          FROM analytics.{table} WHERE month >= %(first)s AND month < %(stop)s
        UNION ALL
        SELECT date_trunc('month', received_on)::date, {as_kept}, {fact_measures}, 0
          FROM (SELECT f.*, analytics.measures_of(f) AS m FROM analytics.appeal_fact f
                 WHERE {edge_filter} OFFSET 0) AS edge  -- OFFSET 0: one call per fact, not per field
        UNION ALL
        SELECT date_trunc('month', received_on)::date, {as_kept}, {zeros}, 1
          FROM analytics.appeal_fact
         WHERE answered_on IS NULL AND state NOT IN ('declined', 'closed', 'withdrawn', 'answered')
           AND answer_by < %(today)s AND received_on >= %(start)s AND received_on < %(end)s
        """
    ).format(
        raw=raw, table=sql.Identifier(cube.table), as_kept=as_kept, cube_measures=cube_measures,
        fact_measures=fact_measures, zeros=zeros, edge_filter=edge_filter if edges else sql.SQL("false"),
    )  # fmt: skip
    return query, params


def fold(conn: Connection) -> int:
    """Add the deltas logged since the last fold into the cube and its rollups (one statement)."""
    return conn.execute("SELECT analytics.fold() AS n").fetchone()["n"]


def report_rows(
    conn: Connection, period: Period, by: Iterable[Dimension], today: date
) -> list[dict[str, Any]]:
    """Counts grouped by ``by``: each row has ``<dim>`` and ``<dim>_name`` per dimension, then
    the measures; largest ``received`` first."""
    dims = list(by)
    source, params = _source(choose_cube(conn, dims), period, today)
    keys = [sql.SQL("{} AS {}").format(_raw_key(d), sql.Identifier("k_" + d.value)) for d in dims]
    sums = sql.SQL(", ").join(sql.SQL("sum({0})::bigint AS {0}").format(sql.Identifier(m)) for m in MEASURES)
    grouped = sql.SQL("SELECT {keys}, {sums} FROM ({source}) AS src GROUP BY {n}").format(
        keys=sql.SQL(", ").join(keys),
        sums=sums,
        source=source,
        n=sql.SQL(", ").join(sql.Literal(i + 1) for i in range(len(dims))),
    )
    named, outer_keys = [], []
    for d in dims:
        k = sql.Identifier("k_" + d.value)
        code, name = _named(d, k)
        named.append(sql.SQL("{} AS {}, {} AS {}").format(
            code, sql.Identifier(d.value), name, sql.Identifier(d.value + "_name")
        ))  # fmt: skip
        outer_keys += [sql.Identifier(d.value), sql.Identifier(d.value + "_name")]
    resum = sql.SQL(", ").join(sql.SQL("sum({0})::bigint AS {0}").format(sql.Identifier(m)) for m in MEASURES)
    query = sql.SQL(
        "SELECT {outer}, {resum} FROM (SELECT {named}, g.* FROM ({grouped}) AS g) AS n "
        "GROUP BY {outer} HAVING sum(received) <> 0 ORDER BY received DESC, {first}"
    ).format(
        outer=sql.SQL(", ").join(outer_keys),
        resum=resum,
        named=sql.SQL(", ").join(named),
        grouped=grouped,
        first=sql.Identifier(dims[0].value),
    )
    return conn.execute(query, params).fetchall()


def _named(dim: Dimension, key: sql.Identifier) -> tuple[sql.Composable, sql.Composable]:
    """The (code, name) expressions of one grouped key."""
    if dim in TOPIC_LEVELS:
        return key, sql.SQL("(SELECT c.name FROM analytics.classifier c WHERE c.code = {})").format(key)
    if dim in TERRITORY_LEVELS:
        match = sql.SQL(
            "(SELECT t.{col} FROM analytics.territory t WHERE t.level = {level} "
            "AND {key} LIKE t.code_prefix || '%%' ORDER BY length(t.code_prefix) DESC LIMIT 1)"
        )
        level = sql.Literal(TERRITORY_LEVELS[dim])
        code = sql.SQL("coalesce({}, left({}, {}))").format(
            match.format(col=sql.Identifier("code_prefix"), level=level, key=key),
            key,
            sql.Literal(TERRITORY_FALLBACK[dim]),
        )
        return code, match.format(col=sql.Identifier("name"), level=level, key=key)
    if dim is Dimension.AGENCY:
        return key, sql.SQL("(SELECT a.name FROM agency a WHERE a.code = {})").format(key)
    return key, sql.SQL("NULL::text")


def open_data_counts(conn: Connection, months: list[date]) -> list[dict[str, Any]]:
    """Appeals received per month × topic section × municipality (named by reference prefix), from
    the cube alone: open data is published by whole months."""
    cube = choose_cube(conn, (Dimension.SECTION, Dimension.MUNICIPALITY))
    query = sql.SQL(
        """
        WITH g AS (
            SELECT month, left(topic_code, 4) AS section, territory_code, sum(received)::bigint AS n
              FROM analytics.{table}
             WHERE month = ANY(%(months)s) AND topic_code <> ''
             GROUP BY 1, 2, 3 HAVING sum(received) <> 0
        )
        SELECT to_char(month, 'YYYY-MM') AS month, section,
               coalesce((SELECT t.code_prefix FROM analytics.territory t
                          WHERE t.level = 'municipality' AND g.territory_code LIKE t.code_prefix || '%%'
                          ORDER BY length(t.code_prefix) DESC LIMIT 1), left(territory_code, 5))
                   AS municipality,
               sum(n)::bigint AS n
          FROM g GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
        """
    ).format(table=sql.Identifier(cube.table))
    return conn.execute(query, {"months": months}).fetchall()


def monthly_view(conn: Connection, months: list[date]) -> tuple[list[tuple[str, str]], list[tuple[Any, ...]]]:
    """The BI view ``analytics.v1_monthly`` for these months, every column in the view's order:
    the columns as (name, PostgreSQL type name) so an export types them as the view does, and the
    rows as tuples. The view is the versioned contract, so the export's shape is the view's."""
    cur = conn.cursor(row_factory=tuple_row)
    cur.execute(
        "SELECT * FROM analytics.v1_monthly WHERE month = ANY(%(months)s) "
        "ORDER BY month, question_code, territory_code, agency_code, channel, applicant_type, result",
        {"months": months},
    )
    types = conn.adapters.types
    columns = [(c.name, types.get(c.type_code).name) for c in cur.description or ()]
    return columns, cur.fetchall()


def names(conn: Connection) -> dict[str, dict[str, str]]:
    """Every reference name by code: sections (and other classifier levels), territories."""
    return {
        "classifier": {
            r["code"]: r["name"] for r in conn.execute("SELECT code, name FROM analytics.classifier")
        },
        "territory": {
            r["code_prefix"]: r["name"]
            for r in conn.execute("SELECT code_prefix, name FROM analytics.territory")
        },
    }


def replace_classifier(conn: Connection, entries: list[tuple[str, str]]) -> int:
    conn.execute("DELETE FROM analytics.classifier")
    with conn.cursor().copy("COPY analytics.classifier (code, name) FROM STDIN") as copy:
        for entry in entries:
            copy.write_row(entry)
    return len(entries)


def replace_territories(conn: Connection, entries: list[tuple[str, str, str]]) -> int:
    conn.execute("DELETE FROM analytics.territory")
    with conn.cursor().copy("COPY analytics.territory (code_prefix, name, level) FROM STDIN") as copy:
        for entry in entries:
            copy.write_row(entry)
    return len(entries)
