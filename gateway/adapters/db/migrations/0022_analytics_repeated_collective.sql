-- Analytics count repeated and collective appeals (migration 0021 was written before either
-- existed). Per appeal, the facts gain (named apart from the measures below, so a query may
-- select a fact's columns and its measures side by side):
--   is_repeated         intake linked the appeal to the same applicant's earlier ones (same
--                       identity subject, topic code and agency within the window, migration 0019:
--                       ``appeal.data->'earlier_appeals'``); whether it repeats a question already
--                       answered on the merits is the agency's judgement, not the hub's;
--   co_applicant_count  how many co-applicants signed it with the applicant (envelope 1.1,
--                       ``appeal.data->'co_applicants'``): a collective appeal has at least one;
--   decline_ground      the legal ground of the agency's decline ('' none), so a decline as
--                       `repeated` (59-FZ art. 11 p.5: the correspondence stopped) counts apart.
-- Both links are written with the appeal at intake and never change, so the insert trigger reads
-- them once; the decline's ground comes with its event. Appeals known by status uploads carry
-- neither (false, 0, '').
--
-- The cube, its rollups and the delta log gain four measures, appended after the old ones:
-- repeated, collective (appeals with co-applicants), co_applicants (their sum: how many people
-- signed besides the applicants), declined_repeated. Adding a column with a constant default is
-- a catalogue change in PostgreSQL (no table rewrite), so the cube's existing rows read 0 until
-- the backfill's deltas are folded in below.
--
-- The BI view v1_monthly gains the same four columns at its end (CREATE OR REPLACE VIEW may only
-- append): every column of version 1 keeps its name, type, position and meaning, so a query that
-- names its columns, or reads them by position, reads what it read before.

ALTER TABLE analytics.appeal_fact
    ADD COLUMN is_repeated         boolean NOT NULL DEFAULT false,
    ADD COLUMN co_applicant_count  integer NOT NULL DEFAULT 0,
    ADD COLUMN decline_ground      text NOT NULL DEFAULT '';

ALTER TABLE analytics.monthly
    ADD COLUMN repeated           bigint NOT NULL DEFAULT 0,
    ADD COLUMN collective         bigint NOT NULL DEFAULT 0,
    ADD COLUMN co_applicants      bigint NOT NULL DEFAULT 0,
    ADD COLUMN declined_repeated  bigint NOT NULL DEFAULT 0;
ALTER TABLE analytics.monthly_place
    ADD COLUMN repeated           bigint NOT NULL DEFAULT 0,
    ADD COLUMN collective         bigint NOT NULL DEFAULT 0,
    ADD COLUMN co_applicants      bigint NOT NULL DEFAULT 0,
    ADD COLUMN declined_repeated  bigint NOT NULL DEFAULT 0;
ALTER TABLE analytics.monthly_agency
    ADD COLUMN repeated           bigint NOT NULL DEFAULT 0,
    ADD COLUMN collective         bigint NOT NULL DEFAULT 0,
    ADD COLUMN co_applicants      bigint NOT NULL DEFAULT 0,
    ADD COLUMN declined_repeated  bigint NOT NULL DEFAULT 0;
-- Deltas logged before this migration (none once it folds below) count nothing new.
ALTER TABLE analytics.cube_delta
    ADD COLUMN repeated           integer NOT NULL DEFAULT 0,
    ADD COLUMN collective         integer NOT NULL DEFAULT 0,
    ADD COLUMN co_applicants      integer NOT NULL DEFAULT 0,
    ADD COLUMN declined_repeated  integer NOT NULL DEFAULT 0;

ALTER TYPE analytics.measures
    ADD ATTRIBUTE repeated integer,
    ADD ATTRIBUTE collective integer,
    ADD ATTRIBUTE co_applicants integer,
    ADD ATTRIBUTE declined_repeated integer;

CREATE OR REPLACE FUNCTION analytics.measures_of(f analytics.appeal_fact) RETURNS analytics.measures
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
        (f.rating = 4 IS TRUE)::int, (f.rating = 5 IS TRUE)::int,
        f.is_repeated::int,
        (f.co_applicant_count > 0)::int,
        f.co_applicant_count,
        (f.state = 'declined' AND f.decline_ground = 'repeated')::int
    )::analytics.measures
$$;

CREATE OR REPLACE FUNCTION analytics.add(f analytics.appeal_fact, d analytics.measures) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO analytics.cube_delta VALUES (
        date_trunc('month', f.received_on)::date, f.topic_code, f.territory_code, f.agency_code,
        f.channel, f.applicant_type, f.result,
        d.received, d.registered, d.registered_on_time, d.answered, d.answered_on_time,
        d.answered_late, d.declined, d.extended, d.redirected, d.redirected_in_time, d.rated,
        d.rating_sum, d.rating_1, d.rating_2, d.rating_3, d.rating_4, d.rating_5, d.repeated,
        d.collective, d.co_applicants, d.declined_repeated)
$$;

CREATE OR REPLACE FUNCTION analytics.minus(n analytics.measures, o analytics.measures)
RETURNS analytics.measures LANGUAGE sql IMMUTABLE AS $f$
    SELECT ROW(
        coalesce(n.received, 0) - coalesce(o.received, 0),
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
        coalesce(n.rating_5, 0) - coalesce(o.rating_5, 0),
        coalesce(n.repeated, 0) - coalesce(o.repeated, 0),
        coalesce(n.collective, 0) - coalesce(o.collective, 0),
        coalesce(n.co_applicants, 0) - coalesce(o.co_applicants, 0),
        coalesce(n.declined_repeated, 0) - coalesce(o.declined_repeated, 0))::analytics.measures
$f$;

CREATE OR REPLACE FUNCTION analytics.fold() RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    folded bigint;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('analytics.fold'));
    WITH d AS (DELETE FROM analytics.cube_delta RETURNING *),
    full_cube AS (
        INSERT INTO analytics.monthly AS c (
            month, topic_code, territory_code, agency_code, channel, applicant_type, result,
            received, registered, registered_on_time, answered, answered_on_time, answered_late,
            declined, extended, redirected, redirected_in_time, rated, rating_sum, rating_1,
            rating_2, rating_3, rating_4, rating_5, repeated, collective, co_applicants,
            declined_repeated)
        SELECT
            month, topic_code, territory_code, agency_code, channel, applicant_type, result,
            sum(received), sum(registered), sum(registered_on_time), sum(answered),
            sum(answered_on_time), sum(answered_late), sum(declined), sum(extended),
            sum(redirected), sum(redirected_in_time), sum(rated), sum(rating_sum), sum(rating_1),
            sum(rating_2), sum(rating_3), sum(rating_4), sum(rating_5), sum(repeated),
            sum(collective), sum(co_applicants), sum(declined_repeated)
          FROM d GROUP BY 1, 2, 3, 4, 5, 6, 7
        ON CONFLICT (month, topic_code, territory_code, agency_code, channel, applicant_type, result) DO UPDATE SET
            received = c.received + EXCLUDED.received,
            registered = c.registered + EXCLUDED.registered,
            registered_on_time = c.registered_on_time + EXCLUDED.registered_on_time,
            answered = c.answered + EXCLUDED.answered,
            answered_on_time = c.answered_on_time + EXCLUDED.answered_on_time,
            answered_late = c.answered_late + EXCLUDED.answered_late,
            declined = c.declined + EXCLUDED.declined, extended = c.extended + EXCLUDED.extended,
            redirected = c.redirected + EXCLUDED.redirected,
            redirected_in_time = c.redirected_in_time + EXCLUDED.redirected_in_time,
            rated = c.rated + EXCLUDED.rated, rating_sum = c.rating_sum + EXCLUDED.rating_sum,
            rating_1 = c.rating_1 + EXCLUDED.rating_1, rating_2 = c.rating_2 + EXCLUDED.rating_2,
            rating_3 = c.rating_3 + EXCLUDED.rating_3, rating_4 = c.rating_4 + EXCLUDED.rating_4,
            rating_5 = c.rating_5 + EXCLUDED.rating_5, repeated = c.repeated + EXCLUDED.repeated,
            collective = c.collective + EXCLUDED.collective,
            co_applicants = c.co_applicants + EXCLUDED.co_applicants,
            declined_repeated = c.declined_repeated + EXCLUDED.declined_repeated
        RETURNING 1),
    place AS (
        INSERT INTO analytics.monthly_place AS c (
            month, topic_code, territory_code, received, registered, registered_on_time, answered,
            answered_on_time, answered_late, declined, extended, redirected, redirected_in_time,
            rated, rating_sum, rating_1, rating_2, rating_3, rating_4, rating_5, repeated,
            collective, co_applicants, declined_repeated)
        SELECT
            month, topic_code, left(territory_code, 5), sum(received), sum(registered),
            sum(registered_on_time), sum(answered), sum(answered_on_time), sum(answered_late),
            sum(declined), sum(extended), sum(redirected), sum(redirected_in_time), sum(rated),
            sum(rating_sum), sum(rating_1), sum(rating_2), sum(rating_3), sum(rating_4),
            sum(rating_5), sum(repeated), sum(collective), sum(co_applicants),
            sum(declined_repeated)
          FROM d GROUP BY 1, 2, 3
        ON CONFLICT (month, topic_code, territory_code) DO UPDATE SET
            received = c.received + EXCLUDED.received,
            registered = c.registered + EXCLUDED.registered,
            registered_on_time = c.registered_on_time + EXCLUDED.registered_on_time,
            answered = c.answered + EXCLUDED.answered,
            answered_on_time = c.answered_on_time + EXCLUDED.answered_on_time,
            answered_late = c.answered_late + EXCLUDED.answered_late,
            declined = c.declined + EXCLUDED.declined, extended = c.extended + EXCLUDED.extended,
            redirected = c.redirected + EXCLUDED.redirected,
            redirected_in_time = c.redirected_in_time + EXCLUDED.redirected_in_time,
            rated = c.rated + EXCLUDED.rated, rating_sum = c.rating_sum + EXCLUDED.rating_sum,
            rating_1 = c.rating_1 + EXCLUDED.rating_1, rating_2 = c.rating_2 + EXCLUDED.rating_2,
            rating_3 = c.rating_3 + EXCLUDED.rating_3, rating_4 = c.rating_4 + EXCLUDED.rating_4,
            rating_5 = c.rating_5 + EXCLUDED.rating_5, repeated = c.repeated + EXCLUDED.repeated,
            collective = c.collective + EXCLUDED.collective,
            co_applicants = c.co_applicants + EXCLUDED.co_applicants,
            declined_repeated = c.declined_repeated + EXCLUDED.declined_repeated
        RETURNING 1),
    agency AS (
        INSERT INTO analytics.monthly_agency AS c (
            month, agency_code, channel, applicant_type, result, received, registered,
            registered_on_time, answered, answered_on_time, answered_late, declined, extended,
            redirected, redirected_in_time, rated, rating_sum, rating_1, rating_2, rating_3,
            rating_4, rating_5, repeated, collective, co_applicants, declined_repeated)
        SELECT
            month, agency_code, channel, applicant_type, result, sum(received), sum(registered),
            sum(registered_on_time), sum(answered), sum(answered_on_time), sum(answered_late),
            sum(declined), sum(extended), sum(redirected), sum(redirected_in_time), sum(rated),
            sum(rating_sum), sum(rating_1), sum(rating_2), sum(rating_3), sum(rating_4),
            sum(rating_5), sum(repeated), sum(collective), sum(co_applicants),
            sum(declined_repeated)
          FROM d GROUP BY 1, 2, 3, 4, 5
        ON CONFLICT (month, agency_code, channel, applicant_type, result) DO UPDATE SET
            received = c.received + EXCLUDED.received,
            registered = c.registered + EXCLUDED.registered,
            registered_on_time = c.registered_on_time + EXCLUDED.registered_on_time,
            answered = c.answered + EXCLUDED.answered,
            answered_on_time = c.answered_on_time + EXCLUDED.answered_on_time,
            answered_late = c.answered_late + EXCLUDED.answered_late,
            declined = c.declined + EXCLUDED.declined, extended = c.extended + EXCLUDED.extended,
            redirected = c.redirected + EXCLUDED.redirected,
            redirected_in_time = c.redirected_in_time + EXCLUDED.redirected_in_time,
            rated = c.rated + EXCLUDED.rated, rating_sum = c.rating_sum + EXCLUDED.rating_sum,
            rating_1 = c.rating_1 + EXCLUDED.rating_1, rating_2 = c.rating_2 + EXCLUDED.rating_2,
            rating_3 = c.rating_3 + EXCLUDED.rating_3, rating_4 = c.rating_4 + EXCLUDED.rating_4,
            rating_5 = c.rating_5 + EXCLUDED.rating_5, repeated = c.repeated + EXCLUDED.repeated,
            collective = c.collective + EXCLUDED.collective,
            co_applicants = c.co_applicants + EXCLUDED.co_applicants,
            declined_repeated = c.declined_repeated + EXCLUDED.declined_repeated
        RETURNING 1)
    SELECT count(*) INTO folded FROM d;
    RETURN folded;
END $$;

-- The length of a JSON array, 0 for anything else (absent, null): a trigger on intake must not
-- fail on an appeal stored before the member existed.
CREATE FUNCTION analytics.array_length_of(j jsonb) RETURNS integer LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN jsonb_typeof(j) = 'array' THEN jsonb_array_length(j) ELSE 0 END
$$;

CREATE OR REPLACE FUNCTION analytics.appeal_to_fact() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO analytics.appeal_fact (
            appeal_id, received_on, topic_code, territory_code, agency_code, channel, applicant_type,
            state, register_by, registered_on, answer_by, is_repeated, co_applicant_count)
        VALUES (
            NEW.id, analytics.local_day(NEW.received_at), left(NEW.topic_code, 19),
            left(NEW.territory_code, 8), coalesce(NEW.agency_code, ''),
            CASE WHEN NEW.sender_id = 'E-MAIL' THEN 'e-mail' ELSE 'portal' END, NEW.applicant_type,
            NEW.state, NEW.register_by, NEW.registered_on, NEW.answer_by,
            analytics.array_length_of(NEW.data->'earlier_appeals') > 0,
            analytics.array_length_of(NEW.data->'co_applicants'));
    ELSE
        UPDATE analytics.appeal_fact
           SET agency_code = coalesce(NEW.agency_code, ''), state = NEW.state,
               register_by = NEW.register_by, registered_on = NEW.registered_on,
               answer_by = NEW.answer_by
         WHERE appeal_id = NEW.id;
    END IF;
    RETURN NULL;
END $$;

-- As in 0021, and a decline keeps its ground (one update: one delta).
CREATE OR REPLACE FUNCTION analytics.event_to_fact() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.type IN ('answered', 'closed') AND NEW.details ? 'result' THEN
        UPDATE analytics.appeal_fact SET result = NEW.details->>'result' WHERE appeal_id = NEW.appeal_id;
    END IF;
    IF NEW.type = 'answered' THEN
        UPDATE analytics.appeal_fact
           SET answered_on = coalesce((NEW.details->>'answered_on')::date, analytics.local_day(NEW.at))
         WHERE appeal_id = NEW.appeal_id;
    ELSIF NEW.type = 'declined' THEN
        UPDATE analytics.appeal_fact
           SET result = CASE WHEN result = '' THEN 'left-without-answer' ELSE result END,
               decline_ground = coalesce(NEW.details->>'ground', '')
         WHERE appeal_id = NEW.appeal_id;
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

-- What the hub already holds, counted once now: each changed fact appends its delta (the trigger
-- on appeal_fact), and the fold adds them to the cube.
UPDATE analytics.appeal_fact f
   SET is_repeated = analytics.array_length_of(a.data->'earlier_appeals') > 0,
       co_applicant_count = analytics.array_length_of(a.data->'co_applicants')
  FROM appeal a
 WHERE a.id = f.appeal_id
   AND (analytics.array_length_of(a.data->'earlier_appeals') > 0
        OR analytics.array_length_of(a.data->'co_applicants') > 0);
UPDATE analytics.appeal_fact f
   SET decline_ground = e.ground
  FROM (SELECT DISTINCT ON (appeal_id) appeal_id, details->>'ground' AS ground
          FROM appeal_event WHERE type = 'declined' ORDER BY appeal_id, seq DESC) AS e
 WHERE e.appeal_id = f.appeal_id AND e.ground IS NOT NULL;

DO $$ BEGIN PERFORM analytics.fold(); END $$;

-- --- version 1 of the views for BI: four columns appended ------------------------------------

CREATE OR REPLACE VIEW analytics.v1_monthly AS
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
       c.rating_sum, c.rating_1, c.rating_2, c.rating_3, c.rating_4, c.rating_5,
       c.repeated, c.collective, c.co_applicants, c.declined_repeated
  FROM analytics.monthly c
 WHERE c.received <> 0;
