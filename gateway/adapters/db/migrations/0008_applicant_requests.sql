-- What applicants ask through the portal after filing: withdrawal of an appeal and feedback (a
-- rating of the answer). Both reach the agency as notices in its mailbox, beside its appeals.
--
-- A notice is a mailbox message of another kind than 'appeal' ('withdrawal', 'feedback'); what it
-- tells the agency is in ``details``. The applicant's own words (a withdrawal's reason, a
-- feedback's comment) live there and in ``appeal_feedback`` only: never in events, which the
-- public lookup shows, nor in the audit trail.

ALTER TABLE mailbox_message ADD COLUMN details jsonb;

CREATE TABLE appeal_feedback (
    appeal_id    uuid PRIMARY KEY REFERENCES appeal (id),
    feedback_id  text NOT NULL,
    -- The agency whose answer is rated (the appeal's agency when the feedback came).
    agency_code  text NOT NULL REFERENCES agency (code),
    rating       smallint NOT NULL CHECK (rating BETWEEN 1 AND 5),
    comment      text,
    sender_id    text NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX appeal_feedback_by_agency ON appeal_feedback (agency_code, received_at);
