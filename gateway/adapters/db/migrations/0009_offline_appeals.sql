-- Appeals an agency received through other channels (post, in person, e-mail, its website), known
-- to the hub only by the statuses the agency uploads, so the public lookup covers every channel.
--
-- Nothing of the appeal's content or of the applicant is here: the agency's registration number
-- and date, the channel, the states with their times and their public details (due date, reason),
-- and the SHA-256 of the access code the agency printed on the applicant's receipt.

CREATE TABLE offline_appeal (
    id                   uuid PRIMARY KEY,
    agency_code          text NOT NULL REFERENCES agency (code),
    registration_number  text NOT NULL,
    registered_on        date NOT NULL,
    channel              text NOT NULL CHECK (channel IN ('post', 'in-person', 'e-mail', 'website')),
    -- The state of the latest status (by its time, not by when it was uploaded), and that time.
    state                text NOT NULL,
    state_at             timestamptz NOT NULL,
    answer_by            date NOT NULL,
    access_code_sha256   text NOT NULL,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    UNIQUE (agency_code, registration_number)
);
CREATE INDEX offline_appeal_registration_number ON offline_appeal (registration_number);

-- Every status uploaded, numbered per appeal in upload order; a status is its state at its time,
-- so the same one uploaded again is found (and not stored twice).
CREATE TABLE offline_appeal_status (
    offline_appeal_id  uuid NOT NULL REFERENCES offline_appeal (id),
    seq                integer NOT NULL,
    state              text NOT NULL,
    at                 timestamptz NOT NULL,
    details            jsonb NOT NULL DEFAULT '{}'::jsonb,
    uploaded_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (offline_appeal_id, seq),
    UNIQUE (offline_appeal_id, state, at)
);

-- An agency numbers all its appeals in one series, whichever way they came: a number it gave a
-- portal appeal cannot name an uploaded one, nor the other way round. Both tables claim their
-- numbers here (by trigger, so no writer can forget), and the primary key refuses a second claim
-- even when two transactions race.
CREATE TABLE agency_registration_number (
    agency_code          text NOT NULL,
    registration_number  text NOT NULL,
    PRIMARY KEY (agency_code, registration_number)
);

INSERT INTO agency_registration_number (agency_code, registration_number)
SELECT agency_code, registration_number FROM appeal
 WHERE agency_code IS NOT NULL AND registration_number IS NOT NULL;

-- A row's number is released when it changes or the row goes (a redirect clears the number), then
-- its new one is claimed.
CREATE FUNCTION claim_registration_number() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.registration_number IS NOT NULL THEN
        DELETE FROM agency_registration_number
         WHERE agency_code = OLD.agency_code AND registration_number = OLD.registration_number;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.agency_code IS NOT NULL AND NEW.registration_number IS NOT NULL THEN
        INSERT INTO agency_registration_number (agency_code, registration_number)
        VALUES (NEW.agency_code, NEW.registration_number);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER appeal_registration_number
    AFTER INSERT OR DELETE OR UPDATE OF agency_code, registration_number ON appeal
    FOR EACH ROW EXECUTE FUNCTION claim_registration_number();
CREATE TRIGGER offline_appeal_registration_number
    AFTER INSERT OR DELETE OR UPDATE OF agency_code, registration_number ON offline_appeal
    FOR EACH ROW EXECUTE FUNCTION claim_registration_number();
