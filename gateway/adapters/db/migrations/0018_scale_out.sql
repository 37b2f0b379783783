-- What several hub nodes need to be correct together (issue 13): a delivery claim no longer
-- held across the call, and a rate limit counted in one place for every node.
--
-- 1. Delivery claims.
-- A delivery attempt no longer holds a transaction and the outbox row's lock while it calls the
-- receiver (up to delivery_timeout_seconds, 30 s by default, per call). It takes a claim in one
-- short transaction (claim_token, claimed_until), calls the receiver with no transaction open,
-- and records the outcome in another, only while its claim is still its own.
--
-- A claim is a lease: a worker SIGKILLed mid-call leaves it behind, and once claimed_until has
-- passed another task of the same attempt may take it, or the relay counts the attempt lost and
-- schedules the next one (as for a task the broker lost). The Celery task's hard time limit is
-- never longer than the claim (gateway/adapters/broker.py), so a running attempt is killed
-- before anyone else may take its row; a late outcome of a claim taken over is dropped.
--
-- Before this, one delivery pinned one PostgreSQL connection "idle in transaction" for the
-- length of the call; a slow cabinet with 2 workers × N nodes held as many transactions open,
-- each one keeping VACUUM from cleaning behind it.

ALTER TABLE outbox_message
    ADD COLUMN claim_token    uuid,
    ADD COLUMN claimed_until  timestamptz;

-- The relay's look for claims that ran out without an outcome (their worker died).
CREATE INDEX outbox_claimed ON outbox_message (claimed_until)
    WHERE claimed_until IS NOT NULL AND delivered_at IS NULL AND dead_at IS NULL;

-- 2. The public status lookup's rate limit, shared by every hub node: one counter per client
-- address (its SHA-256, not the address) and fixed window, incremented by one upsert per lookup,
-- so N nodes allow the limit once, not N times. UNLOGGED: no WAL, not replicated, emptied by a
-- crash or a failover; a counter that lives a minute need not outlive the server, and writing it
-- costs no more than the lookup's own read. Windows older than two lengths are swept by the
-- nodes (gateway/service/rate_limit.py).
CREATE UNLOGGED TABLE rate_limit_window (
    bucket        text NOT NULL,
    client_key    bytea NOT NULL,
    window_start  timestamptz NOT NULL,
    hits          integer NOT NULL,
    PRIMARY KEY (bucket, client_key, window_start)
);
CREATE INDEX rate_limit_window_start ON rate_limit_window (window_start);

-- 3. Periodic jobs (`appeals-gateway scheduled …`, run by a timer on every node): the first node
-- to claim a job's period runs it, the others see the claim and do nothing. A claim not finished
-- within its stale_after (its node died) may be taken again. The row is also the job's record:
-- which node ran it, how it ended, and what it said.
CREATE TABLE scheduled_run (
    job           text NOT NULL,
    period_start  timestamptz NOT NULL,
    node          text NOT NULL,
    started_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    stale_at      timestamptz NOT NULL,
    finished_at   timestamptz,
    outcome       text CHECK (outcome IN ('ok', 'failed')),
    summary       text,
    PRIMARY KEY (job, period_start)
);
