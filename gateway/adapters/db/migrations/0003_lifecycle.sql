-- The legal clock on the appeal (due dates as of the latest transition) and the case's executor.

ALTER TABLE appeal
    ADD COLUMN register_by  date,
    ADD COLUMN redirect_by  date,
    ADD COLUMN answer_by    date,
    ADD COLUMN extensions   integer NOT NULL DEFAULT 0,
    ADD COLUMN executor     text;

-- The appeal's state right after each event, so a repeated event answers as the first time did.
ALTER TABLE appeal_event ADD COLUMN state_after text;
