-- Negative acknowledgements take a message out of delivery until an operator acts on it;
-- registration numbers are unique within an agency; refusals of agency and operator requests
-- are recorded like intake rejections.

ALTER TABLE mailbox_message ADD COLUMN refused_at timestamptz;

DROP INDEX mailbox_open;
CREATE INDEX mailbox_open ON mailbox_message (agency_code, created_at, id)
    WHERE acked_at IS NULL AND refused_at IS NULL;
CREATE INDEX mailbox_by_appeal ON mailbox_message (appeal_id);

CREATE UNIQUE INDEX appeal_registration_unique ON appeal (agency_code, registration_number)
    WHERE registration_number IS NOT NULL;

CREATE TABLE request_refusal (
    id       bigserial PRIMARY KEY,
    at       timestamptz NOT NULL DEFAULT now(),
    face     text NOT NULL,
    method   text NOT NULL,
    path     text NOT NULL,
    status   integer NOT NULL,
    code     text NOT NULL,
    pointer  text,
    detail   text NOT NULL
);
