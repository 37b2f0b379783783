-- Fail-open intake (GATEWAY_ANTIVIRUS_OUTAGE=hold): when clamd gives no verdict, the appeal is stored
-- and routed but its mailbox message is not posted; this row holds it back until a later scan of
-- its attachments passes (then the message is posted with the id kept here, and the row goes) or
-- finds a signature (then the row stays, with the signature, for operators; the agency never sees
-- the appeal). A few rows at a time, only during a scanner outage: no partitioning, one index.
CREATE TABLE attachment_hold (
    appeal_id           uuid PRIMARY KEY REFERENCES appeal (id) ON DELETE CASCADE,
    mailbox_message_id  uuid NOT NULL,
    held_at             timestamptz NOT NULL DEFAULT clock_timestamp(),
    scans               integer NOT NULL DEFAULT 0,
    last_error          text,
    infected            text
);
CREATE INDEX attachment_hold_waiting ON attachment_hold (held_at) WHERE infected IS NULL;
