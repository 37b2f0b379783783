-- The audit chain is sealed in batches after commit (as X-Road's message log is), no longer by a
-- trigger at every audited commit.
--
-- Why. 0010's deferred trigger took the chain head's row lock at COMMIT and held it through the
-- commit's WAL flush, so every audited commit in the region queued behind the one before it:
-- 2,500–3,000 audited commits/s however many writers, and bench/pull.py's raw lease+ack rate
-- rose from 3,340 to 4,722 msgs/s with the trigger switched off. Sealing after commit takes the
-- head lock once per batch, in a transaction of its own, and no writer waits for it. Measured in one
-- run of bench/audit.py (4 writer processes, one record per transaction, rounds alternated; a
-- shared 2-core machine, load 4–8, synchronous_commit on): sealed after commit 876 commits/s, the
-- per-commit trigger 569 (1.54×), the same rows into a table with no chain 805 — sealing costs the
-- writers nothing measurable; what bounds them is the server's WAL flush. The writers' wait events
-- say why: with the trigger 44 % of their time was on the head's row lock (Lock:transactionid,
-- 17 % more on Lock:tuple); sealed after commit, WALWrite 57 % and WALSync 36 %, as with no chain.
-- The sealer chains 6,500–30,000 records/s (a 50,000-record backlog, by load); the window was
-- p99 0.21 s, max 0.45 s (bench/RESULTS.md, "audit chain sealed in batches").
--
-- Chaining each statement as it runs (a trigger not deferred) would hold the head's lock from the
-- insert to the commit instead: longer, and against row locks that lease, acknowledge and events
-- take in other orders (deadlocks; 0010 deferred it for that). Computing the hashes in Python
-- instead of plpgsql was not worth it: hashing is a third of the sealer's time (20,000 records:
-- 0.2 s of 0.6 s), the rest is moving each row to its final id (two index entries), and the
-- sealer already chains more than ten times what the writers commit.
--
-- What changes. A record is inserted with a PROVISIONAL id, 2^62 + n in insert order: above every
-- chained id, so `ORDER BY id` still lists an appeal's actions in the order they happened (an
-- action whose transaction began after another's committed has the larger provisional id, and is
-- chained after it). audit_chain_seal() then chains the committed unchained records, oldest
-- provisional id first: under the head's row lock it gives each its final id from
-- audit_record_id_seq (dense, following the chain, as before), `at` = the time it was chained (one
-- clock reading per batch, so times never go backwards along the chain and an archive's period is
-- one stretch of it), its link and its hash, and moves the head once. The canonical form (version
-- 1, 0010's header) is unchanged: records chained before this migration verify as they did.
--
-- The window. Until it is sealed a record is not in the chain: an edit to it, or its deletion,
-- leaves no trace the verifier can find. The outbox relay seals every
-- GATEWAY_AUDIT_SEAL_INTERVAL_SECONDS (0.2 s), so the window is normally well under a second;
-- `appeals-gateway audit verify` and /metrics show how many records wait and for how long, and a
-- record left unsealed longer than GATEWAY_AUDIT_SEAL_MAX_AGE_SECONDS is reported as a fault.
--
-- Who seals. Anyone may call audit_chain_seal() (every node's relay does, `appeals-gateway audit
-- seal`, psql): a second caller finds the head locked and returns 0 at once (SKIP LOCKED), so
-- concurrent sealers never chain a record twice. It must run at READ COMMITTED: each statement's
-- fresh snapshot is what makes the previous sealer's work visible once its lock is released.

DROP TRIGGER audit_record_chained ON audit_record;
DROP FUNCTION audit_record_chain();

-- The first provisional id; audit_record_id_seq's ids (chained) stay below it.
CREATE FUNCTION audit_provisional_base() RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT 4611686018427387904::bigint $$;

ALTER TABLE audit_record
    ALTER COLUMN id SET DEFAULT audit_provisional_base() + nextval('audit_record_provisional_id_seq');

-- Chain up to max_records committed unchained records; returns how many (0 when another sealer
-- holds the head: it is chaining them). Call it until it returns fewer than max_records to drain.
CREATE FUNCTION audit_chain_seal(max_records integer DEFAULT 10000) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    head_at tid;
    link bytea;
    sealed_at timestamptz;
    r record;
    new_id bigint;
    old_ids bigint[] := '{}';
    new_ids bigint[] := '{}';
    links bytea[] := '{}';
    hashes bytea[] := '{}';
    n integer := 0;
    updated integer;
BEGIN
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE EXCEPTION 'audit_chain_seal() must run at READ COMMITTED, not %',
            current_setting('transaction_isolation');
    END IF;
    IF NOT EXISTS (SELECT 1 FROM audit_record WHERE id >= audit_provisional_base()) THEN
        RETURN 0;  -- nothing waits: no lock, no write (every relay asks five times a second)
    END IF;
    SELECT ctid, hash INTO head_at, link FROM audit_chain_head WHERE singleton FOR UPDATE SKIP LOCKED;
    IF NOT FOUND THEN
        IF EXISTS (SELECT 1 FROM audit_chain_head) THEN
            RETURN 0;  -- another sealer holds it
        END IF;
        -- The head is gone (deleted by hand): a new one, and the next record starts a second
        -- chain, which the verifier reports.
        INSERT INTO audit_chain_head (singleton) VALUES (true) ON CONFLICT DO NOTHING;
        SELECT ctid, hash INTO head_at, link FROM audit_chain_head WHERE singleton FOR UPDATE SKIP LOCKED;
        IF NOT FOUND THEN
            RETURN 0;
        END IF;
    END IF;
    sealed_at := clock_timestamp();
    FOR r IN SELECT id, appeal_id, actor, action, details FROM audit_record
              WHERE id >= audit_provisional_base() ORDER BY id LIMIT max_records LOOP
        new_id := nextval('audit_record_id_seq');
        old_ids := old_ids || r.id;
        new_ids := new_ids || new_id;
        links := links || link;
        link := audit_record_hash(new_id, r.appeal_id, r.actor, r.action, sealed_at, r.details, link);
        hashes := hashes || link;
        n := n + 1;
    END LOOP;
    IF n = 0 THEN
        RETURN 0;
    END IF;
    UPDATE audit_record a
       SET id = u.new_id, at = sealed_at, prev_hash = u.prev_hash, hash = u.hash
      FROM unnest(old_ids, new_ids, links, hashes) AS u(old_id, new_id, prev_hash, hash)
     WHERE a.id = u.old_id;
    GET DIAGNOSTICS updated = ROW_COUNT;
    IF updated <> n THEN  -- only an edit by hand meanwhile; chain them next time
        RAISE EXCEPTION 'audit records changed while being chained (% of %)', updated, n;
    END IF;
    UPDATE audit_chain_head SET last_id = new_id, hash = link WHERE ctid = head_at;
    RETURN n;
END $$;
