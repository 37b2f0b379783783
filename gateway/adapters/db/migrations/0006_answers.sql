-- Agencies' signed answers, and credentials for the portals that fetch what answers attach.
--
-- The signed answer XML and its attachments are blobs (content-addressed, like appeals'
-- attachments); a row here ties them to the event that answered the appeal. The answer's text and
-- signatory are read from the signed document when needed, never copied into columns.

CREATE TABLE appeal_answer (
    appeal_id        uuid NOT NULL,
    seq              integer NOT NULL,
    answer_id        uuid NOT NULL,
    answered_on      date NOT NULL,
    document_sha256  bytea NOT NULL REFERENCES blob (sha256),
    -- The signed attachment headers, in signed order:
    -- [{"content_id", "file_name", "media_type", "size", "sha256" (hex)}]; each sha256 is a blob.
    attachments      jsonb NOT NULL DEFAULT '[]'::jsonb,
    received_at      timestamptz NOT NULL,
    PRIMARY KEY (appeal_id, seq),
    FOREIGN KEY (appeal_id, seq) REFERENCES appeal_event (appeal_id, seq)
);

-- Portals authenticate their requests to the hub (fetching an answer's attachments) as agencies
-- do: bearer tokens as SHA-256 hex, client certificates as SHA-256 hex of the DER. Their pushes
-- need none: the signature on each envelope says who sent it.
CREATE TABLE portal_credential (
    kind         text NOT NULL CHECK (kind IN ('token', 'cert-fingerprint')),
    secret_hash  text NOT NULL,
    sender_id    text NOT NULL REFERENCES portal_sender (id) ON DELETE CASCADE,
    PRIMARY KEY (kind, secret_hash)
);
