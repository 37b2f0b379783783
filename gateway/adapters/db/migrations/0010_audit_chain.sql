-- The audit trail becomes a hash chain (as X-Road's message log is): every record carries the
-- hash of the record before it and its own hash over its content and that link, so editing,
-- inserting or deleting a record by SQL breaks the chain where it happened
-- (`appeals-gateway audit verify` finds it; gateway/domain/audit_chain.py is the verifier's side).
--
-- Canonical form, version 1. A record's hash is SHA-256 over eight fields, each written as a 4-byte
-- big-endian signed length and then its bytes (length -1 and no bytes for NULL):
--   'appeals-gateway audit record 1' (the form's tag), id (decimal), appeal_id (lower-case
--   hyphenated UUID, or NULL), actor, action, at (UTC, 'YYYY-MM-DDTHH:MM:SS.ffffffZ'),
--   details (PostgreSQL's text output of the jsonb value), prev_hash (32 bytes; NULL for the
--   chain's first record); text in UTF-8.
-- jsonb keeps no formatting of its own (keys deduplicated and sorted by length then bytes, one
-- spelling per value), so its text output is canonical: the verifier hashes that text as fetched
-- instead of re-serialising the parsed JSON (which would lose numbers' spelling, e.g. 1.50).
--
-- Who inserts does not matter: several statements insert audit records (append_audit, and CTEs
-- of intake, lease and acknowledge), so a trigger chains them all. It runs at commit (a deferred
-- constraint trigger): there it takes the chain head's row lock, gives the record its final id
-- and time, its link and hash, and moves the head, so records are chained in commit order and ids
-- follow the chain. Taken at commit, the head lock is always the transaction's last lock: no
-- deadlock with the row locks that lease, acknowledge and events take in other orders. Until
-- then a record has a provisional, negative id. A rolled-back transaction leaves no record and
-- does not move the head; its ids are just unused.

ALTER TABLE audit_record
    ADD COLUMN prev_hash bytea,
    ADD COLUMN hash      bytea;

-- The chain's end: the last record's id and hash. Deleting records from the end of the trail is
-- seen by comparing it with the last record. One row; the trigger re-creates it if it is gone
-- (the next record then starts a second chain, which the verifier reports). Every audited commit
-- updates it, so its page keeps room for those updates (fillfactor), and the trigger reaches it by
-- its key and its ctid, never by scanning: old versions pile up under load faster than they are
-- pruned, and scanning them made each commit slower than the last (measured: 2,900 → 1,200
-- commits/s within a minute; steady at 2,900 by key and ctid).
CREATE TABLE audit_chain_head (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    last_id    bigint,
    hash       bytea
) WITH (fillfactor = 10);

CREATE SEQUENCE audit_record_provisional_id_seq;
ALTER TABLE audit_record ALTER COLUMN id SET DEFAULT -nextval('audit_record_provisional_id_seq');

-- One field of the canonical form: its length (-1 for NULL), then its bytes.
CREATE FUNCTION audit_chain_field(value bytea) RETURNS bytea
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN value IS NULL THEN '\xffffffff'::bytea ELSE int4send(length(value)) || value END
$$;

CREATE FUNCTION audit_record_hash(
    id bigint, appeal_id uuid, actor text, action text, at timestamptz, details jsonb, prev_hash bytea
) RETURNS bytea
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT sha256(
           audit_chain_field(convert_to('appeals-gateway audit record 1', 'UTF8'))
        || audit_chain_field(convert_to(id::text, 'UTF8'))
        || audit_chain_field(convert_to(appeal_id::text, 'UTF8'))
        || audit_chain_field(convert_to(actor, 'UTF8'))
        || audit_chain_field(convert_to(action, 'UTF8'))
        || audit_chain_field(convert_to(to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), 'UTF8'))
        || audit_chain_field(convert_to(details::text, 'UTF8'))
        || audit_chain_field(prev_hash))
$$;

-- Chain the records written before this migration, in id order (their times are kept). The
-- ALTER TABLE above holds the table's exclusive lock until commit: nothing is written meanwhile.

DO $$
DECLARE
    r record;
    link bytea;
    last bigint;
BEGIN
    FOR r IN SELECT * FROM audit_record ORDER BY id LOOP
        UPDATE audit_record
           SET prev_hash = link,
               hash = audit_record_hash(r.id, r.appeal_id, r.actor, r.action, r.at, r.details, link)
         WHERE id = r.id
        RETURNING hash INTO link;
        last := r.id;
    END LOOP;
    INSERT INTO audit_chain_head (last_id, hash) VALUES (last, link);
END $$;

CREATE FUNCTION audit_record_chain() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    head_at tid;
    head_hash bytea;
    chained_id bigint;
    chained_at timestamptz;
    chained_hash bytea;
BEGIN
    SELECT ctid, hash INTO head_at, head_hash FROM audit_chain_head WHERE singleton FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO audit_chain_head (singleton) VALUES (true) ON CONFLICT DO NOTHING;
        SELECT ctid, hash INTO head_at, head_hash FROM audit_chain_head WHERE singleton FOR UPDATE;
    END IF;
    chained_id := nextval('audit_record_id_seq');
    chained_at := clock_timestamp();
    UPDATE audit_record
       SET id = chained_id, at = chained_at, prev_hash = head_hash,
           hash = audit_record_hash(chained_id, appeal_id, actor, action, chained_at, details, head_hash)
     WHERE id = NEW.id
    RETURNING hash INTO chained_hash;
    IF FOUND THEN  -- not deleted again by its own transaction
        UPDATE audit_chain_head SET last_id = chained_id, hash = chained_hash WHERE ctid = head_at;
    END IF;
    RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER audit_record_chained AFTER INSERT ON audit_record
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION audit_record_chain();
