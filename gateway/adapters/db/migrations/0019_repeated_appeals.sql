-- Repeated appeals (59-FZ art. 11 p.5: the same applicant, the same question, already answered).
-- Intake links a new appeal to the same applicant's earlier ones (the portal's identity subject id
-- and provider) on the same topic code at the same agency within GATEWAY_REPEATED_APPEAL_WINDOW_DAYS,
-- with one index probe per routed appeal: the index leads with the subject id, which nearly always
-- narrows the scan to one person's handful of appeals, then agency and topic; received_at last for
-- the window. The links themselves are written into the appeal's data (``earlier_appeals``) with the
-- appeal, so agencies' pulls read them with no join.
CREATE INDEX appeal_applicant_topic
    ON appeal ((data->'identity'->>'subject_id'), agency_code, topic_code, received_at);
