-- Every registration an appeal has had, so the number an applicant holds outlives a redirect.
--
-- `appeal.registration_number` is the current agency's number: a redirect clears it, and until
-- this migration it also released the number (the claim trigger of 0009), so the applicant's
-- number and access code stopped answering the public lookup exactly when the appeal moved. Here
-- each agency's registration of a portal appeal is a row of its own, kept for good: the lookup
-- finds the appeal by any number it was ever registered under, and the number stays the old
-- agency's (it named this appeal once; it must not name another one later).
--
-- The claim on the agency's series of numbers (agency_registration_number, 0009) moves from the
-- appeal's current number to these rows: an agency that registers the appeal again after it came
-- back to it may reuse its own number for it, and nothing else may.

CREATE TABLE appeal_registration (
    agency_code          text NOT NULL,
    registration_number  text NOT NULL,
    appeal_id            uuid NOT NULL REFERENCES appeal (id),
    registered_on        date NOT NULL,
    recorded_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (agency_code, registration_number)
);
CREATE INDEX appeal_registration_by_number ON appeal_registration (registration_number);
CREATE INDEX appeal_registration_by_appeal ON appeal_registration (appeal_id);

-- The current registrations first, then the ones earlier redirects released, from the event log
-- (each `registered` event names its number; its actor is `agency:<code>`), unless the agency has
-- given the number to another appeal since.
INSERT INTO appeal_registration (agency_code, registration_number, appeal_id, registered_on, recorded_at)
SELECT a.agency_code, a.registration_number, a.id, a.registered_on,
       coalesce((SELECT max(e.at) FROM appeal_event e
                  WHERE e.appeal_id = a.id AND e.type = 'registered'), a.received_at)
  FROM appeal a
 WHERE a.agency_code IS NOT NULL AND a.registration_number IS NOT NULL;

INSERT INTO appeal_registration (agency_code, registration_number, appeal_id, registered_on, recorded_at)
SELECT DISTINCT ON (substr(e.actor, 8), e.details->>'registration_number')
       substr(e.actor, 8), e.details->>'registration_number', e.appeal_id,
       (e.details->>'registered_on')::date, e.at
  FROM appeal_event e
 WHERE e.type = 'registered' AND e.actor LIKE 'agency:%'
   AND e.details ? 'registration_number' AND e.details ? 'registered_on'
   AND NOT EXISTS (SELECT 1 FROM agency_registration_number n
                    WHERE n.agency_code = substr(e.actor, 8)
                      AND n.registration_number = e.details->>'registration_number')
 ORDER BY substr(e.actor, 8), e.details->>'registration_number', e.at
ON CONFLICT DO NOTHING;

INSERT INTO agency_registration_number (agency_code, registration_number)
SELECT agency_code, registration_number FROM appeal_registration
ON CONFLICT DO NOTHING;

DROP TRIGGER appeal_registration_number ON appeal;
CREATE TRIGGER appeal_registration_claims
    AFTER INSERT OR DELETE OR UPDATE OF agency_code, registration_number ON appeal_registration
    FOR EACH ROW EXECUTE FUNCTION claim_registration_number();

-- Whoever writes the appeal row (a bug, a hand-written fix), its current number must be one of its
-- own registrations, so the claim above covers it: otherwise the write fails as a taken number.
CREATE FUNCTION appeal_number_is_registered() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.registration_number IS NOT NULL AND NOT EXISTS (
        SELECT 1 FROM appeal_registration r
         WHERE r.agency_code = NEW.agency_code AND r.registration_number = NEW.registration_number
           AND r.appeal_id = NEW.id) THEN
        RAISE unique_violation USING MESSAGE = format(
            'appeal %s: %s has not registered it under this number (appeal_registration)',
            NEW.id, NEW.agency_code);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER appeal_number_is_registered
    AFTER INSERT OR UPDATE OF agency_code, registration_number ON appeal
    FOR EACH ROW EXECUTE FUNCTION appeal_number_is_registered();
