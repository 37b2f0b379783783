-- Delivery state of outbox messages: the relay publishes what is due, a worker attempts it, and
-- the outcome (delivered, a retry scheduled with backoff, or dead) is written back here, so the
-- database alone answers "what is stuck, since when, and why".
--
-- A message is due when it is neither delivered nor dead, not published, and its next attempt
-- time has come. A failed attempt clears published_at and sets next_attempt_at; the relay picks
-- it up again then. A published message that no worker finishes (its task lost with the broker)
-- is published again after a while by the relay: workers drop a task whose attempt number is
-- stale, and receivers absorb the rest by the idempotency key.

ALTER TABLE outbox_message
    ADD COLUMN attempts         integer NOT NULL DEFAULT 0,
    ADD COLUMN next_attempt_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    ADD COLUMN last_attempt_at  timestamptz,
    ADD COLUMN last_error       text,
    ADD COLUMN delivered_at     timestamptz,
    ADD COLUMN dead_at          timestamptz;

DROP INDEX outbox_unpublished;
CREATE INDEX outbox_due ON outbox_message (next_attempt_at)
    WHERE published_at IS NULL AND delivered_at IS NULL AND dead_at IS NULL;
CREATE INDEX outbox_in_flight ON outbox_message (published_at)
    WHERE published_at IS NOT NULL AND delivered_at IS NULL AND dead_at IS NULL;
CREATE INDEX outbox_dead ON outbox_message (dead_at) WHERE dead_at IS NOT NULL;
CREATE INDEX outbox_by_appeal ON outbox_message (appeal_id, seq);

-- Every attempt, kept for operators and auditors (what was tried, when, and what came back).
CREATE TABLE delivery_attempt (
    outbox_id    bigint NOT NULL REFERENCES outbox_message (id),
    attempt      integer NOT NULL,
    started_at   timestamptz NOT NULL,
    finished_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    outcome      text NOT NULL CHECK (outcome IN ('delivered', 'retry', 'dead', 'lost')),
    error        text,
    PRIMARY KEY (outbox_id, attempt)
);

-- Wake the relay as soon as something becomes due now (a new message, a replay); scheduled
-- retries are found by its periodic poll.
CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('outbox', '');
    RETURN NULL;
END $$;

CREATE TRIGGER outbox_inserted AFTER INSERT ON outbox_message
    FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();

-- Each outbox message with its delivery status, as operators and analysts name it.
CREATE VIEW delivery AS
SELECT m.*,
       CASE WHEN delivered_at IS NOT NULL THEN 'delivered'
            WHEN dead_at IS NOT NULL THEN 'dead'
            WHEN published_at IS NOT NULL THEN 'in-flight'
            WHEN attempts > 0 THEN 'retrying'
            ELSE 'pending' END AS status
  FROM outbox_message m;
