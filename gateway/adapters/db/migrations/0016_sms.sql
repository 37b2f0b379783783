-- SMS notifications (connectors/mail/sms): which message id the SMSC gave each part, and what the
-- delivery receipts for those ids said.
--
-- For the outbox an SMS is delivered when the operator's SMSC accepted every part (submit_sm_resp);
-- whether it reached the handset is told later, minutes to days, by a receipt naming the SMSC's
-- message id, on another connection (the receipt listener's bind). Two tables joined on that id,
-- so the order does not matter: a fast receipt may commit before the part that it answers.
--
-- No foreign key to outbox_message: a part is recorded while the delivery worker holds its outbox
-- row FOR UPDATE (service/delivery.py `attempt`), and a foreign key's KEY SHARE check would wait
-- for that very lock until the attempt ends: a self-deadlock bounded only by the timeouts.

CREATE TABLE sms_submission (
    outbox_id     bigint NOT NULL,
    part          smallint NOT NULL CHECK (part BETWEEN 1 AND parts),
    parts         smallint NOT NULL CHECK (parts BETWEEN 1 AND 255),
    message_id    text NOT NULL,  -- '' when the SMSC accepted without one: no receipt can match it
    submitted_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (outbox_id, part)
);
CREATE INDEX sms_submission_by_message_id ON sms_submission (message_id);

-- The latest word on each message id. `state` is the receipt's `stat:` (DELIVRD, UNDELIV,
-- EXPIRED, REJECTD, DELETED, ACCEPTD, UNKNOWN, ENROUTE), `error_code` its `err:` (the network's
-- code, for the operator's support ticket), `done_at` the SMSC's `done date`.
CREATE TABLE sms_receipt (
    message_id   text PRIMARY KEY,
    state        text NOT NULL,
    error_code   text,
    done_at      timestamptz,
    received_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);
