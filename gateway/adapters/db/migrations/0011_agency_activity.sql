-- When each agency last pulled its mailbox and last acknowledged, whatever the pull returned.
--
-- A pull of an empty mailbox leaves no trace on any message, yet it is exactly what tells "the
-- agency is alive with nothing to do" from "the agency stopped pulling". One row per agency,
-- written at most once a second per agency, so pullers do not queue on it.

CREATE TABLE agency_activity (
    agency_code   text PRIMARY KEY REFERENCES agency (code) ON DELETE CASCADE,
    last_pull_at  timestamptz,
    last_ack_at   timestamptz
);
