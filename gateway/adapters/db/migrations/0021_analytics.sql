-- Analytics for the region: what people write about, where, how fast agencies answer, how the
-- applicants rate the answers — counted as the appeals and events commit, never by scanning every
-- appeal per report.
--
-- Everything lives in its own schema, `analytics`:
--   appeal_fact  one narrow row per appeal (portal, e-mail after moderation, and appeals agencies
--                report by status upload), kept current by triggers on the tables the hub writes
--                anyway, in the writer's own transaction: a report never sees an event without
--                its count, and nothing is counted twice or lost to a crash between two steps.
--   monthly      the cube: counts and timeliness per month × topic (four blocks) × territory (its
--                first 8 digits: the municipal formation in OKTMO) × agency × channel × applicant
--                type × result category. A trigger on appeal_fact appends each change as a delta
--                (the fact's old measures off its old cell, the new ones onto its new cell) to
--                cube_delta; analytics.fold() adds the deltas up into the cube, before every report
--                and on the relay's timer. Reports of whole months read only the cube; a period
--                with a partial month reads the facts of those days (at most two partial months).
--   monthly_place, monthly_agency   two rollups of the cube, folded from the same deltas, for the
--                common reports (topics × territories; agencies × channels × applicants × results).
--   classifier, territory   the names of classifier entries and territories (reference tables,
--                loaded from CSV by `appeals-gateway report load-reference`).
--   v1_*         the views BI tools connect to (role analytics_reader): their shape is version 1;
--                a change of shape is a new v2_* set beside them.
--
-- Cost on intake (bench/analytics.py): one fact insert and one delta row per appeal; a fact update
-- and one or two delta rows per agency event that changes a count. Updating the cube itself in
-- the writer's transaction was measured first: three upserts per change (+1.83 ms per appeal
-- inserted and moved twice), and a busy cell's row locked until the writer commits; the
-- append-only log added 0.68 ms in a comparable run, and it locks nothing another writer
-- needs (bench/RESULTS.md).

CREATE SCHEMA analytics;

-- The time zone whose calendar days and months the reports count in (the region's).
CREATE TABLE analytics.setting (
    one       boolean PRIMARY KEY DEFAULT true CHECK (one),
    timezone  text NOT NULL DEFAULT 'Europe/Moscow'
);
INSERT INTO analytics.setting DEFAULT VALUES;

-- The thematic classifier: an entry per code at any level (0005, 0005.0005, 0005.0005.0056,
-- 0005.0005.0056.1149); the level is the number of blocks.
CREATE TABLE analytics.classifier (
    code   text PRIMARY KEY CHECK (code ~ '^[0-9]{4}(\.[0-9]{4}){0,3}$'),
    name   text NOT NULL,
    level  smallint GENERATED ALWAYS AS (length(code) / 5 + 1) STORED
);

-- Territories by code prefix: a region (OKTMO's first 2 digits) or a municipality (a longer prefix).
-- An appeal's territory is named by the longest prefix of the level asked for.
CREATE TABLE analytics.territory (
    code_prefix  text PRIMARY KEY CHECK (code_prefix ~ '^[0-9]{1,11}$'),
    name         text NOT NULL,
    level        text NOT NULL CHECK (level IN ('region', 'municipality'))
);

CREATE TABLE analytics.appeal_fact (
    appeal_id          uuid PRIMARY KEY,
    received_on        date NOT NULL,
    topic_code         text NOT NULL,   -- four blocks ('' for an appeal known by its status only)
    territory_code     text NOT NULL,   -- first 8 digits ('' likewise)
    agency_code        text NOT NULL,   -- '' while unrouted
    channel            text NOT NULL,   -- portal, e-mail, upload/post, upload/in-person, ...
    applicant_type     text NOT NULL,   -- individual, entrepreneur, legal-entity ('' unknown)
    result             text NOT NULL DEFAULT '',  -- the result category ('' none reported yet)
    state              text NOT NULL,
    register_by        date,
    registered_on      date,
    answer_by          date,
    answered_on        date,
    extensions         integer NOT NULL DEFAULT 0,
    redirects          integer NOT NULL DEFAULT 0,
    redirects_in_time  integer NOT NULL DEFAULT 0,
    rating             smallint
);
CREATE INDEX appeal_fact_received ON analytics.appeal_fact (received_on);
-- Open appeals past due are counted at report time (being overdue needs no event): few rows.
CREATE INDEX appeal_fact_open ON analytics.appeal_fact (answer_by)
 WHERE answered_on IS NULL AND state NOT IN ('declined', 'closed', 'withdrawn', 'answered');

-- What one appeal adds to its cell: the rule lives here once (the cube trigger and the reports'
-- reading of partial months both call it).
CREATE TYPE analytics.measures AS (
    received            integer,
    registered          integer,
    registered_on_time  integer,
    answered            integer,
    answered_on_time    integer,
    answered_late       integer,
    declined            integer,
    extended            integer,
    redirected          integer,
    redirected_in_time  integer,
    rated               integer,
    rating_sum          integer,
    rating_1            integer,
    rating_2            integer,
    rating_3            integer,
    rating_4            integer,
    rating_5            integer
);

CREATE FUNCTION analytics.measures_of(f analytics.appeal_fact) RETURNS analytics.measures
LANGUAGE sql IMMUTABLE AS $$
    SELECT ROW(
        1,
        (f.registered_on IS NOT NULL)::int,
        (f.registered_on IS NOT NULL AND (f.register_by IS NULL OR f.registered_on <= f.register_by))::int,
        (f.answered_on IS NOT NULL)::int,
        (f.answered_on IS NOT NULL AND (f.answer_by IS NULL OR f.answered_on <= f.answer_by))::int,
        (f.answered_on > f.answer_by IS TRUE)::int,
        (f.state = 'declined')::int,
        (f.extensions > 0)::int,
        (f.redirects > 0)::int,
        (f.redirects > 0 AND f.redirects_in_time = f.redirects)::int,
        (f.rating IS NOT NULL)::int,
        coalesce(f.rating, 0)::int,
        (f.rating = 1 IS TRUE)::int, (f.rating = 2 IS TRUE)::int, (f.rating = 3 IS TRUE)::int,
        (f.rating = 4 IS TRUE)::int, (f.rating = 5 IS TRUE)::int
    )::analytics.measures
$$;

CREATE TABLE analytics.monthly (
    month               date NOT NULL,
    topic_code          text NOT NULL,
    territory_code      text NOT NULL,
    agency_code         text NOT NULL,
    channel             text NOT NULL,
    applicant_type      text NOT NULL,
    result              text NOT NULL,
    received            bigint NOT NULL DEFAULT 0,
    registered          bigint NOT NULL DEFAULT 0,
    registered_on_time  bigint NOT NULL DEFAULT 0,
    answered            bigint NOT NULL DEFAULT 0,
    answered_on_time    bigint NOT NULL DEFAULT 0,
    answered_late       bigint NOT NULL DEFAULT 0,
    declined            bigint NOT NULL DEFAULT 0,
    extended            bigint NOT NULL DEFAULT 0,
    redirected          bigint NOT NULL DEFAULT 0,
    redirected_in_time  bigint NOT NULL DEFAULT 0,
    rated               bigint NOT NULL DEFAULT 0,
    rating_sum          bigint NOT NULL DEFAULT 0,
    rating_1            bigint NOT NULL DEFAULT 0,
    rating_2            bigint NOT NULL DEFAULT 0,
    rating_3            bigint NOT NULL DEFAULT 0,
    rating_4            bigint NOT NULL DEFAULT 0,
    rating_5            bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (month, topic_code, territory_code, agency_code, channel, applicant_type, result)
);

-- Two rollups of the cube, kept by the same trigger, so the common reports read few rows: topics ×
-- territories (the territory's first 5 digits: a municipal district or city) without the other
-- dimensions, and agencies × channels × applicant types × results without topics and territories.
-- (The full cube has about as many rows as there are appeals at 5 million: bench/RESULTS.md.)
CREATE TABLE analytics.monthly_place (
    month               date NOT NULL,
    topic_code          text NOT NULL,
    territory_code      text NOT NULL,
    received            bigint NOT NULL DEFAULT 0,
    registered          bigint NOT NULL DEFAULT 0,
    registered_on_time  bigint NOT NULL DEFAULT 0,
    answered            bigint NOT NULL DEFAULT 0,
    answered_on_time    bigint NOT NULL DEFAULT 0,
    answered_late       bigint NOT NULL DEFAULT 0,
    declined            bigint NOT NULL DEFAULT 0,
    extended            bigint NOT NULL DEFAULT 0,
    redirected          bigint NOT NULL DEFAULT 0,
    redirected_in_time  bigint NOT NULL DEFAULT 0,
    rated               bigint NOT NULL DEFAULT 0,
    rating_sum          bigint NOT NULL DEFAULT 0,
    rating_1            bigint NOT NULL DEFAULT 0,
    rating_2            bigint NOT NULL DEFAULT 0,
    rating_3            bigint NOT NULL DEFAULT 0,
    rating_4            bigint NOT NULL DEFAULT 0,
    rating_5            bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (month, topic_code, territory_code)
);
CREATE TABLE analytics.monthly_agency (
    month               date NOT NULL,
    agency_code         text NOT NULL,
    channel             text NOT NULL,
    applicant_type      text NOT NULL,
    result              text NOT NULL,
    received            bigint NOT NULL DEFAULT 0,
    registered          bigint NOT NULL DEFAULT 0,
    registered_on_time  bigint NOT NULL DEFAULT 0,
    answered            bigint NOT NULL DEFAULT 0,
    answered_on_time    bigint NOT NULL DEFAULT 0,
    answered_late       bigint NOT NULL DEFAULT 0,
    declined            bigint NOT NULL DEFAULT 0,
    extended            bigint NOT NULL DEFAULT 0,
    redirected          bigint NOT NULL DEFAULT 0,
    redirected_in_time  bigint NOT NULL DEFAULT 0,
    rated               bigint NOT NULL DEFAULT 0,
    rating_sum          bigint NOT NULL DEFAULT 0,
    rating_1            bigint NOT NULL DEFAULT 0,
    rating_2            bigint NOT NULL DEFAULT 0,
    rating_3            bigint NOT NULL DEFAULT 0,
    rating_4            bigint NOT NULL DEFAULT 0,
    rating_5            bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (month, agency_code, channel, applicant_type, result)
);

-- A change of a fact is written as its delta: one row appended to this log in the writer's own
-- transaction (no row of the cube is locked by intake, so concurrent writers never queue on a busy
-- cell), and folded into the cube and its rollups by analytics.fold(): every report folds before
-- it reads, and the relay folds on a timer (GATEWAY_ANALYTICS_FOLD_SECONDS) so the log stays short.
CREATE TABLE analytics.cube_delta (
    month               date NOT NULL,
    topic_code          text NOT NULL,
    territory_code      text NOT NULL,
    agency_code         text NOT NULL,
    channel             text NOT NULL,
    applicant_type      text NOT NULL,
    result              text NOT NULL,
    received            integer NOT NULL,
    registered          integer NOT NULL,
    registered_on_time  integer NOT NULL,
    answered            integer NOT NULL,
    answered_on_time    integer NOT NULL,
    answered_late       integer NOT NULL,
    declined            integer NOT NULL,
    extended            integer NOT NULL,
    redirected          integer NOT NULL,
    redirected_in_time  integer NOT NULL,
    rated               integer NOT NULL,
    rating_sum          integer NOT NULL,
    rating_1            integer NOT NULL,
    rating_2            integer NOT NULL,
    rating_3            integer NOT NULL,
    rating_4            integer NOT NULL,
    rating_5            integer NOT NULL
);

-- Append the measures ``d`` of the fact's cell to the log.
CREATE FUNCTION analytics.add(f analytics.appeal_fact, d analytics.measures) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO analytics.cube_delta VALUES (
        date_trunc('month', f.received_on)::date, f.topic_code, f.territory_code, f.agency_code,
        f.channel, f.applicant_type, f.result,
        d.received, d.registered, d.registered_on_time, d.answered, d.answered_on_time, d.answered_late,
        d.declined, d.extended, d.redirected, d.redirected_in_time, d.rated, d.rating_sum,
        d.rating_1, d.rating_2, d.rating_3, d.rating_4, d.rating_5)
$$;

-- Fold the log into the cube and its rollups in one statement (the rows it deletes are the rows it
-- adds, whatever commits meanwhile); one fold at a time (an advisory lock), so two never take the
-- cube's rows in different orders. Returns how many deltas it folded.
CREATE FUNCTION analytics.fold() RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    folded bigint;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('analytics.fold'));
    WITH d AS (DELETE FROM analytics.cube_delta RETURNING *),
    full_cube AS (
        INSERT INTO analytics.monthly AS c (month, topic_code, territory_code, agency_code, channel, applicant_type, result, received, registered, registered_on_time, answered, answered_on_time, answered_late, declined, extended, redirected, redirected_in_time, rated, rating_sum, rating_1, rating_2, rating_3, rating_4, rating_5)
        SELECT month, topic_code, territory_code, agency_code, channel, applicant_type, result, sum(received), sum(registered), sum(registered_on_time), sum(answered), sum(answered_on_time), sum(answered_late), sum(declined), sum(extended), sum(redirected), sum(redirected_in_time), sum(rated), sum(rating_sum), sum(rating_1), sum(rating_2), sum(rating_3), sum(rating_4), sum(rating_5)
          FROM d GROUP BY 1, 2, 3, 4, 5, 6, 7
        ON CONFLICT (month, topic_code, territory_code, agency_code, channel, applicant_type, result) DO UPDATE SET
            received = c.received + EXCLUDED.received,
            registered = c.registered + EXCLUDED.registered,
            registered_on_time = c.registered_on_time + EXCLUDED.registered_on_time,
            answered = c.answered + EXCLUDED.answered,
            answered_on_time = c.answered_on_time + EXCLUDED.answered_on_time,
            answered_late = c.answered_late + EXCLUDED.answered_late,
            declined = c.declined + EXCLUDED.declined,
            extended = c.extended + EXCLUDED.extended,
            redirected = c.redirected + EXCLUDED.redirected,
            redirected_in_time = c.redirected_in_time + EXCLUDED.redirected_in_time,
            rated = c.rated + EXCLUDED.rated,
            rating_sum = c.rating_sum + EXCLUDED.rating_sum,
            rating_1 = c.rating_1 + EXCLUDED.rating_1,
            rating_2 = c.rating_2 + EXCLUDED.rating_2,
            rating_3 = c.rating_3 + EXCLUDED.rating_3,
            rating_4 = c.rating_4 + EXCLUDED.rating_4,
            rating_5 = c.rating_5 + EXCLUDED.rating_5
        RETURNING 1),
    place AS (
        INSERT INTO analytics.monthly_place AS c (month, topic_code, territory_code, received, registered, registered_on_time, answered, answered_on_time, answered_late, declined, extended, redirected, redirected_in_time, rated, rating_sum, rating_1, rating_2, rating_3, rating_4, rating_5)
        SELECT month, topic_code, left(territory_code, 5), sum(received), sum(registered), sum(registered_on_time), sum(answered), sum(answered_on_time), sum(answered_late), sum(declined), sum(extended), sum(redirected), sum(redirected_in_time), sum(rated), sum(rating_sum), sum(rating_1), sum(rating_2), sum(rating_3), sum(rating_4), sum(rating_5)
          FROM d GROUP BY 1, 2, 3
        ON CONFLICT (month, topic_code, territory_code) DO UPDATE SET
            received = c.received + EXCLUDED.received,
            registered = c.registered + EXCLUDED.registered,
            registered_on_time = c.registered_on_time + EXCLUDED.registered_on_time,
            answered = c.answered + EXCLUDED.answered,
            answered_on_time = c.answered_on_time + EXCLUDED.answered_on_time,
            answered_late = c.answered_late + EXCLUDED.answered_late,
            declined = c.declined + EXCLUDED.declined,
            extended = c.extended + EXCLUDED.extended,
            redirected = c.redirected + EXCLUDED.redirected,
            redirected_in_time = c.redirected_in_time + EXCLUDED.redirected_in_time,
            rated = c.rated + EXCLUDED.rated,
            rating_sum = c.rating_sum + EXCLUDED.rating_sum,
            rating_1 = c.rating_1 + EXCLUDED.rating_1,
            rating_2 = c.rating_2 + EXCLUDED.rating_2,
            rating_3 = c.rating_3 + EXCLUDED.rating_3,
            rating_4 = c.rating_4 + EXCLUDED.rating_4,
            rating_5 = c.rating_5 + EXCLUDED.rating_5
        RETURNING 1),
    agency AS (
        INSERT INTO analytics.monthly_agency AS c (month, agency_code, channel, applicant_type, result, received, registered, registered_on_time, answered, answered_on_time, answered_late, declined, extended, redirected, redirected_in_time, rated, rating_sum, rating_1, rating_2, rating_3, rating_4, rating_5)
        SELECT month, agency_code, channel, applicant_type, result, sum(received), sum(registered), sum(registered_on_time), sum(answered), sum(answered_on_time), sum(answered_late), sum(declined), sum(extended), sum(redirected), sum(redirected_in_time), sum(rated), sum(rating_sum), sum(rating_1), sum(rating_2), sum(rating_3), sum(rating_4), sum(rating_5)
          FROM d GROUP BY 1, 2, 3, 4, 5
        ON CONFLICT (month, agency_code, channel, applicant_type, result) DO UPDATE SET
            received = c.received + EXCLUDED.received,
            registered = c.registered + EXCLUDED.registered,
            registered_on_time = c.registered_on_time + EXCLUDED.registered_on_time,
            answered = c.answered + EXCLUDED.answered,
            answered_on_time = c.answered_on_time + EXCLUDED.answered_on_time,
            answered_late = c.answered_late + EXCLUDED.answered_late,
            declined = c.declined + EXCLUDED.declined,
            extended = c.extended + EXCLUDED.extended,
            redirected = c.redirected + EXCLUDED.redirected,
            redirected_in_time = c.redirected_in_time + EXCLUDED.redirected_in_time,
            rated = c.rated + EXCLUDED.rated,
            rating_sum = c.rating_sum + EXCLUDED.rating_sum,
            rating_1 = c.rating_1 + EXCLUDED.rating_1,
            rating_2 = c.rating_2 + EXCLUDED.rating_2,
            rating_3 = c.rating_3 + EXCLUDED.rating_3,
            rating_4 = c.rating_4 + EXCLUDED.rating_4,
            rating_5 = c.rating_5 + EXCLUDED.rating_5
        RETURNING 1)
    SELECT count(*) INTO folded FROM d;
    RETURN folded;
END $$;

-- ``n`` minus ``o``, either NULL for nothing (a fact that goes, or comes).
CREATE FUNCTION analytics.minus(n analytics.measures, o analytics.measures) RETURNS analytics.measures
LANGUAGE sql IMMUTABLE AS $f$
    SELECT ROW(coalesce(n.received, 0) - coalesce(o.received, 0),
        coalesce(n.registered, 0) - coalesce(o.registered, 0),
        coalesce(n.registered_on_time, 0) - coalesce(o.registered_on_time, 0),
        coalesce(n.answered, 0) - coalesce(o.answered, 0),
        coalesce(n.answered_on_time, 0) - coalesce(o.answered_on_time, 0),
        coalesce(n.answered_late, 0) - coalesce(o.answered_late, 0),
        coalesce(n.declined, 0) - coalesce(o.declined, 0),
        coalesce(n.extended, 0) - coalesce(o.extended, 0),
        coalesce(n.redirected, 0) - coalesce(o.redirected, 0),
        coalesce(n.redirected_in_time, 0) - coalesce(o.redirected_in_time, 0),
        coalesce(n.rated, 0) - coalesce(o.rated, 0),
        coalesce(n.rating_sum, 0) - coalesce(o.rating_sum, 0),
        coalesce(n.rating_1, 0) - coalesce(o.rating_1, 0),
        coalesce(n.rating_2, 0) - coalesce(o.rating_2, 0),
        coalesce(n.rating_3, 0) - coalesce(o.rating_3, 0),
        coalesce(n.rating_4, 0) - coalesce(o.rating_4, 0),
        coalesce(n.rating_5, 0) - coalesce(o.rating_5, 0))::analytics.measures
$f$;

CREATE FUNCTION analytics.fact_to_cube() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    mo analytics.measures;  -- what the fact counted before (NULL: it did not exist)
    mn analytics.measures;  -- what it counts now (NULL: it is gone)
BEGIN
    IF TG_OP = 'UPDATE' AND OLD IS NOT DISTINCT FROM NEW THEN
        RETURN NULL;
    END IF;
    IF TG_OP <> 'INSERT' THEN
        mo := analytics.measures_of(OLD);
    END IF;
    IF TG_OP <> 'DELETE' THEN
        mn := analytics.measures_of(NEW);
    END IF;
    IF TG_OP = 'UPDATE' AND (OLD.received_on, OLD.topic_code, OLD.territory_code, OLD.agency_code,
            OLD.channel, OLD.applicant_type, OLD.result) IS NOT DISTINCT FROM
            (NEW.received_on, NEW.topic_code, NEW.territory_code, NEW.agency_code, NEW.channel,
            NEW.applicant_type, NEW.result) THEN
        -- the same cell (most events): one delta of the difference, if the counts moved at all
        IF mn IS DISTINCT FROM mo THEN
            PERFORM analytics.add(NEW, analytics.minus(mn, mo));
        END IF;
    ELSE
        IF mo IS NOT NULL THEN
            PERFORM analytics.add(OLD, analytics.minus(NULL, mo));
        END IF;
        IF mn IS NOT NULL THEN
            PERFORM analytics.add(NEW, mn);
        END IF;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER fact_to_cube AFTER INSERT OR UPDATE OR DELETE ON analytics.appeal_fact
    FOR EACH ROW EXECUTE FUNCTION analytics.fact_to_cube();

CREATE FUNCTION analytics.local_day(at timestamptz) RETURNS date LANGUAGE sql STABLE AS $$
    SELECT (at AT TIME ZONE (SELECT timezone FROM analytics.setting))::date
$$;

-- Portal and e-mailed appeals (the hub's own `E-MAIL` sender marks the moderated ones).
CREATE FUNCTION analytics.appeal_to_fact() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO analytics.appeal_fact (
            appeal_id, received_on, topic_code, territory_code, agency_code, channel, applicant_type,
            state, register_by, registered_on, answer_by)
        VALUES (
            NEW.id, analytics.local_day(NEW.received_at), left(NEW.topic_code, 19),
            left(NEW.territory_code, 8), coalesce(NEW.agency_code, ''),
            CASE WHEN NEW.sender_id = 'E-MAIL' THEN 'e-mail' ELSE 'portal' END, NEW.applicant_type,
            NEW.state, NEW.register_by, NEW.registered_on, NEW.answer_by);
    ELSE
        UPDATE analytics.appeal_fact
           SET agency_code = coalesce(NEW.agency_code, ''), state = NEW.state,
               register_by = NEW.register_by, registered_on = NEW.registered_on,
               answer_by = NEW.answer_by
         WHERE appeal_id = NEW.id;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER appeal_to_fact AFTER INSERT ON appeal
    FOR EACH ROW EXECUTE FUNCTION analytics.appeal_to_fact();
CREATE TRIGGER appeal_change_to_fact
    AFTER UPDATE OF agency_code, state, register_by, registered_on, answer_by ON appeal
    FOR EACH ROW WHEN (
        (OLD.agency_code, OLD.state, OLD.register_by, OLD.registered_on, OLD.answer_by)
        IS DISTINCT FROM (NEW.agency_code, NEW.state, NEW.register_by, NEW.registered_on, NEW.answer_by))
    EXECUTE FUNCTION analytics.appeal_to_fact();

-- Agency events: the result category (answered, closed), the answer's date, extensions and
-- redirects (counted from events: a redirect starts the appeal's own counters afresh); a decline
-- is «оставлено без ответа» unless the agency named a category itself.
CREATE FUNCTION analytics.event_to_fact() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.type IN ('answered', 'closed') AND NEW.details ? 'result' THEN
        UPDATE analytics.appeal_fact SET result = NEW.details->>'result' WHERE appeal_id = NEW.appeal_id;
    END IF;
    IF NEW.type = 'answered' THEN
        UPDATE analytics.appeal_fact
           SET answered_on = coalesce((NEW.details->>'answered_on')::date, analytics.local_day(NEW.at))
         WHERE appeal_id = NEW.appeal_id;
    ELSIF NEW.type = 'declined' THEN
        UPDATE analytics.appeal_fact SET result = 'left-without-answer'
         WHERE appeal_id = NEW.appeal_id AND result = '';
    ELSIF NEW.type = 'extended' THEN
        UPDATE analytics.appeal_fact SET extensions = extensions + 1 WHERE appeal_id = NEW.appeal_id;
    ELSIF NEW.type = 'redirected' THEN
        UPDATE analytics.appeal_fact
           SET redirects = redirects + 1,
               redirects_in_time = redirects_in_time
                   + coalesce((NEW.details->>'within_legal_window')::boolean, true)::int
         WHERE appeal_id = NEW.appeal_id;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER event_to_fact AFTER INSERT ON appeal_event
    FOR EACH ROW WHEN (NEW.type IN ('answered', 'closed', 'declined', 'extended', 'redirected'))
    EXECUTE FUNCTION analytics.event_to_fact();

CREATE FUNCTION analytics.feedback_to_fact() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE analytics.appeal_fact SET rating = NEW.rating WHERE appeal_id = NEW.appeal_id;
    RETURN NULL;
END $$;
CREATE TRIGGER feedback_to_fact AFTER INSERT ON appeal_feedback
    FOR EACH ROW EXECUTE FUNCTION analytics.feedback_to_fact();

-- Appeals received otherwise (post, in person, e-mail to the agency, its website), known by the
-- statuses their agency uploads: no topic, territory or applicant type.
CREATE FUNCTION analytics.offline_to_fact() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO analytics.appeal_fact AS f (
        appeal_id, received_on, topic_code, territory_code, agency_code, channel, applicant_type,
        state, registered_on, answer_by, answered_on, result)
    VALUES (
        NEW.id, NEW.registered_on, '', '', NEW.agency_code, 'upload/' || NEW.channel, '', NEW.state,
        NEW.registered_on, NEW.answer_by,
        CASE WHEN NEW.state = 'answered' THEN analytics.local_day(NEW.state_at) END,
        CASE WHEN NEW.state = 'declined' THEN 'left-without-answer' ELSE '' END)
    ON CONFLICT (appeal_id) DO UPDATE SET
        state = EXCLUDED.state, answer_by = EXCLUDED.answer_by,
        answered_on = coalesce(f.answered_on, EXCLUDED.answered_on),
        result = CASE WHEN f.result = '' THEN EXCLUDED.result ELSE f.result END;
    RETURN NULL;
END $$;
CREATE TRIGGER offline_to_fact AFTER INSERT OR UPDATE OF state, answer_by ON offline_appeal
    FOR EACH ROW EXECUTE FUNCTION analytics.offline_to_fact();

-- What the hub already holds, counted once now (the triggers count everything after).
INSERT INTO analytics.appeal_fact (
    appeal_id, received_on, topic_code, territory_code, agency_code, channel, applicant_type, result,
    state, register_by, registered_on, answer_by, answered_on, extensions, redirects,
    redirects_in_time, rating)
SELECT a.id, analytics.local_day(a.received_at), left(a.topic_code, 19), left(a.territory_code, 8),
       coalesce(a.agency_code, ''), CASE WHEN a.sender_id = 'E-MAIL' THEN 'e-mail' ELSE 'portal' END,
       a.applicant_type,
       CASE WHEN a.state = 'declined' THEN 'left-without-answer' ELSE '' END,
       a.state, a.register_by, a.registered_on, a.answer_by,
       (SELECT (e.details->>'answered_on')::date FROM appeal_event e
         WHERE e.appeal_id = a.id AND e.type = 'answered' ORDER BY e.seq DESC LIMIT 1),
       (SELECT count(*) FROM appeal_event e WHERE e.appeal_id = a.id AND e.type = 'extended'),
       (SELECT count(*) FROM appeal_event e WHERE e.appeal_id = a.id AND e.type = 'redirected'),
       (SELECT count(*) FROM appeal_event e WHERE e.appeal_id = a.id AND e.type = 'redirected'
           AND coalesce((e.details->>'within_legal_window')::boolean, true)),
       (SELECT f.rating FROM appeal_feedback f WHERE f.appeal_id = a.id)
  FROM appeal a;
INSERT INTO analytics.appeal_fact (
    appeal_id, received_on, topic_code, territory_code, agency_code, channel, applicant_type, result,
    state, registered_on, answer_by, answered_on)
SELECT o.id, o.registered_on, '', '', o.agency_code, 'upload/' || o.channel, '',
       CASE WHEN o.state = 'declined' THEN 'left-without-answer' ELSE '' END, o.state,
       o.registered_on, o.answer_by,
       CASE WHEN o.state = 'answered' THEN analytics.local_day(o.state_at) END
  FROM offline_appeal o;

DO $$ BEGIN PERFORM analytics.fold(); END $$;

-- --- version 1 of the views for BI -------------------------------------------------------------

CREATE VIEW analytics.v1_classifier AS SELECT code, name, level FROM analytics.classifier;
CREATE VIEW analytics.v1_territory AS SELECT code_prefix, name, level FROM analytics.territory;

-- The cube with names: one row per month × question × territory × agency × channel × applicant
-- type × result; sum any measure over any of them.
CREATE VIEW analytics.v1_monthly AS
SELECT c.month, left(c.topic_code, 4) AS section_code, left(c.topic_code, 9) AS theme_code,
       left(c.topic_code, 14) AS topic_code, c.topic_code AS question_code,
       (SELECT k.name FROM analytics.classifier k WHERE k.code = left(c.topic_code, 4)) AS section_name,
       left(c.territory_code, 2) AS region_code, c.territory_code,
       (SELECT t.name FROM analytics.territory t
         WHERE t.level = 'municipality' AND c.territory_code LIKE t.code_prefix || '%'
         ORDER BY length(t.code_prefix) DESC LIMIT 1) AS municipality_name,
       c.agency_code, (SELECT a.name FROM agency a WHERE a.code = c.agency_code) AS agency_name,
       c.channel, c.applicant_type, c.result,
       c.received, c.registered, c.registered_on_time, c.answered, c.answered_on_time,
       c.answered_late, c.declined, c.extended, c.redirected, c.redirected_in_time, c.rated,
       c.rating_sum, c.rating_1, c.rating_2, c.rating_3, c.rating_4, c.rating_5
  FROM analytics.monthly c
 WHERE c.received <> 0;

-- The role BI tools log in with (or are granted): these views and nothing else.
-- Roles belong to the whole cluster: another database's migration may be making it right now.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'analytics_reader') THEN
        CREATE ROLE analytics_reader NOLOGIN;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;
END $$;
GRANT USAGE ON SCHEMA analytics TO analytics_reader;
GRANT SELECT ON analytics.v1_classifier, analytics.v1_territory, analytics.v1_monthly TO analytics_reader;
