-- E-mail that arrives in the hub's mailboxes, waiting for an operator (moderation queue).
--
-- E-mail stopped being a legal channel for an appeal (Russia 30.03.2025, Belarus 02.01.2023), so
-- nothing here reaches an agency unreviewed: an operator registers a message (it becomes an appeal
-- with its raw e-mail as the evidence) or rejects it with a reason. Each message is filed once:
-- by the SHA-256 of its raw bytes, and by its Message-ID when it has one (the same message fetched
-- from two mailboxes, or relayed twice with other Received lines, is one message).
--
-- The raw message and each attachment live in the content-addressed blob store (0001); the parsed
-- sender, subject and text are here for the operators' view. They are personal data: only the ops
-- faces show them, never logs. A quarantined message keeps its raw bytes when it was fetched
-- (an oversize one is never fetched: raw_sha256 is NULL) and the reason, for operators.

CREATE TABLE incoming_mail (
    id                  uuid PRIMARY KEY,
    mailbox             text NOT NULL,
    filed_at            timestamptz NOT NULL DEFAULT clock_timestamp(),
    message_id          text,
    raw_sha256          bytea REFERENCES blob (sha256),
    size                bigint NOT NULL,
    state               text NOT NULL CHECK (state IN ('waiting', 'registered', 'rejected', 'quarantined')),
    labels              text[] NOT NULL DEFAULT '{}',
    quarantine_reason   text,
    quarantine_detail   text,
    sender              text,
    sender_name         text,
    subject             text,
    sent_at             timestamptz,
    text                text,
    headers             jsonb NOT NULL DEFAULT '[]'::jsonb,
    -- [{"n", "file_name", "media_type", "size", "sha256" (hex)}], the bytes in the blob store
    attachments         jsonb NOT NULL DEFAULT '[]'::jsonb,
    decided_at          timestamptz,
    decided_by          text,
    appeal_id           uuid REFERENCES appeal (id),
    rejection_reason    text,
    rejection_comment   text,
    CHECK ((state = 'quarantined') = (quarantine_reason IS NOT NULL)),
    CHECK ((state = 'registered') = (appeal_id IS NOT NULL))
);
CREATE UNIQUE INDEX incoming_mail_by_digest ON incoming_mail (raw_sha256);
CREATE UNIQUE INDEX incoming_mail_by_message_id ON incoming_mail (message_id) WHERE message_id IS NOT NULL;
CREATE INDEX incoming_mail_open ON incoming_mail (filed_at) WHERE state IN ('waiting', 'quarantined');

-- What the sender must be told (registered: which agency has it; rejected: the reason and where
-- to file instead), written in the operator's transaction. The applicant-mail (SMTP) connector
-- sends what is owed and sets sent_at; until it runs, operators see the rows as owed.
CREATE TABLE incoming_mail_reply (
    incoming_mail_id  uuid PRIMARY KEY REFERENCES incoming_mail (id),
    template          text NOT NULL,
    recipient         text NOT NULL,
    params            jsonb NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT clock_timestamp(),
    sent_at           timestamptz
);
CREATE INDEX incoming_mail_reply_owed ON incoming_mail_reply (created_at) WHERE sent_at IS NULL;
