-- The transactional outbox: what must leave the hub is written in the same transaction as the
-- state change that causes it; a relay publishes it to the broker and marks it published.

CREATE TABLE outbox_message (
    id               bigserial PRIMARY KEY,
    created_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    connector        text NOT NULL,
    appeal_id        uuid NOT NULL REFERENCES appeal (id),
    seq              integer NOT NULL,
    idempotency_key  text NOT NULL UNIQUE,
    payload          jsonb NOT NULL,
    published_at     timestamptz
);
CREATE INDEX outbox_unpublished ON outbox_message (id) WHERE published_at IS NULL;
