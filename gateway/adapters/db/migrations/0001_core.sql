-- The hub's core store: agencies, appeals with their raw signed messages, attachments,
-- per-agency mailboxes, and the audit trail.

CREATE TABLE portal_sender (
    id              text PRIMARY KEY,
    jurisdiction    text NOT NULL CHECK (jurisdiction IN ('RU', 'BY')),
    certificate_cn  text NOT NULL
);

CREATE TABLE agency (
    code                 text PRIMARY KEY,
    name                 text NOT NULL,
    jurisdiction_profile text NOT NULL CHECK (jurisdiction_profile IN ('RU-59FZ', 'BY-300Z')),
    timezone             text NOT NULL,
    delivery_mode        text NOT NULL DEFAULT 'pull' CHECK (delivery_mode IN ('pull', 'push-soap')),
    push_url             text,
    answer_certificate   text,
    updated_at           timestamptz NOT NULL DEFAULT now()
);

-- Bearer tokens are stored as SHA-256 hex; certificate fingerprints as SHA-256 hex of the DER.
CREATE TABLE agency_credential (
    kind         text NOT NULL CHECK (kind IN ('token', 'cert-fingerprint')),
    secret_hash  text NOT NULL,
    agency_code  text NOT NULL REFERENCES agency (code) ON DELETE CASCADE,
    PRIMARY KEY (kind, secret_hash)
);

CREATE TABLE routing_rule (
    id                bigserial PRIMARY KEY,
    agency_code       text NOT NULL REFERENCES agency (code) ON DELETE CASCADE,
    topic_prefix      text NOT NULL DEFAULT '',
    territory_prefix  text NOT NULL DEFAULT ''
);

CREATE TABLE appeal (
    id                   uuid PRIMARY KEY,
    sender_id            text NOT NULL,
    portal_appeal_id     text NOT NULL,
    kind                 text NOT NULL,
    applicant_type       text NOT NULL,
    topic_code           text NOT NULL,
    territory_code       text NOT NULL,
    addressee_code       text,
    agency_code          text REFERENCES agency (code),
    state                text NOT NULL,
    received_at          timestamptz NOT NULL,
    registration_number  text,
    registered_on        date,
    data                 jsonb NOT NULL,
    UNIQUE (sender_id, portal_appeal_id)
);
CREATE INDEX appeal_manual_routing ON appeal (received_at) WHERE agency_code IS NULL;
CREATE INDEX appeal_registration_number ON appeal (registration_number) WHERE registration_number IS NOT NULL;

-- The non-repudiation archive: the envelope exactly as the portal sent it.
CREATE TABLE inbound_message (
    sender_id    text NOT NULL,
    message_id   uuid NOT NULL,
    body_sha256  bytea NOT NULL,
    raw          bytea NOT NULL,
    sent_at      timestamptz NOT NULL,
    received_at  timestamptz NOT NULL,
    appeal_id    uuid NOT NULL REFERENCES appeal (id),
    PRIMARY KEY (sender_id, message_id)
);
CREATE INDEX inbound_by_body ON inbound_message (body_sha256);

-- Content-addressed blobs, chunked so they stream in and out without whole-file buffers.
CREATE TABLE blob (
    sha256      bytea PRIMARY KEY,
    size        bigint NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE blob_chunk (
    sha256  bytea NOT NULL REFERENCES blob (sha256) ON DELETE CASCADE,
    seq     integer NOT NULL,
    data    bytea NOT NULL,
    PRIMARY KEY (sha256, seq)
);

CREATE TABLE attachment (
    appeal_id   uuid NOT NULL REFERENCES appeal (id),
    n           integer NOT NULL,
    content_id  text NOT NULL,
    file_name   text NOT NULL,
    media_type  text NOT NULL,
    size        bigint NOT NULL,
    sha256      bytea NOT NULL REFERENCES blob (sha256),
    PRIMARY KEY (appeal_id, n)
);

-- One agency's mailbox (SMEV-style pull). A message is visible when visible_at <= now();
-- leasing pushes visible_at forward, so an expired lease makes it pending again by itself.
CREATE TABLE mailbox_message (
    id               uuid PRIMARY KEY,
    agency_code      text NOT NULL REFERENCES agency (code),
    appeal_id        uuid NOT NULL REFERENCES appeal (id),
    kind             text NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    visible_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    lease_token      uuid,
    delivery_count   integer NOT NULL DEFAULT 0,
    last_leased_at   timestamptz,
    acked_at         timestamptz,
    refused_reason   text
);
CREATE INDEX mailbox_open ON mailbox_message (agency_code, created_at, id) WHERE acked_at IS NULL;

CREATE TABLE appeal_event (
    appeal_id    uuid NOT NULL REFERENCES appeal (id),
    seq          integer NOT NULL,
    event_id     text NOT NULL,
    type         text NOT NULL,
    actor        text NOT NULL,
    at           timestamptz NOT NULL DEFAULT now(),
    details      jsonb NOT NULL DEFAULT '{}'::jsonb,
    PRIMARY KEY (appeal_id, seq),
    UNIQUE (appeal_id, event_id)
);

CREATE TABLE audit_record (
    id         bigserial PRIMARY KEY,
    appeal_id  uuid,
    actor      text NOT NULL,
    action     text NOT NULL,
    at         timestamptz NOT NULL DEFAULT clock_timestamp(),
    details    jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX audit_by_appeal ON audit_record (appeal_id, id);

-- Rejected intake attempts: what was wrong, never the (possibly personal) content.
CREATE TABLE intake_rejection (
    id           bigserial PRIMARY KEY,
    at           timestamptz NOT NULL DEFAULT now(),
    code         text NOT NULL,
    pointer      text,
    detail       text NOT NULL,
    sender_id    text,
    message_id   text,
    body_sha256  bytea,
    body_size    bigint
);
