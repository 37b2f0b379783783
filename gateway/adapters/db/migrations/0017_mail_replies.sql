-- The replies moderation owes the senders of e-mailed appeals (0015's incoming_mail_reply) are sent
-- through the outbox, like every other e-mail the hub sends.
--
-- Why the outbox and not a loop of its own over incoming_mail_reply: a reply is an e-mail to a
-- person, and what the hub promises for those (retries with backoff, dead after a permanent
-- refusal or 48 hours, replay by an operator, the operators' delivery views, the metrics per
-- connector, a bounce matched by its Message-ID) lives in the outbox and its workers. A side
-- channel would have to copy each of these, or go without them.
--
-- What that costs: an outbox row named its appeal (appeal_id NOT NULL), and a rejected e-mail never
-- becomes one. Considered:
--  * a fake appeal per rejected e-mail: it would show in every count of appeals, the lookup and the
--    archive; rejected.
--  * a second outbox table for replies: the relay, the reclaimer, the replay, the views and the
--    metrics would each read two tables; rejected.
--  * an outbox row owned by an appeal OR by an incoming e-mail (chosen): appeal_id becomes nullable,
--    incoming_mail_id names the e-mail, and a CHECK keeps every row owned by one of them. The
--    relay, the workers and the replay never read the owner (they read the row by id); the
--    operators' timeline reads by appeal_id and still finds the registered e-mail's reply, which
--    carries both ids. The reply's idempotency key is `applicant-mail:reply:<incoming mail id>`
--    (one reply per e-mail, whatever repeats the decision), its seq 0.
--
-- incoming_mail_reply stays as what the operator's decision owed; whether it went is the delivery's
-- status, so its never-written sent_at goes.

ALTER TABLE outbox_message ALTER COLUMN appeal_id DROP NOT NULL;
ALTER TABLE outbox_message ADD COLUMN incoming_mail_id uuid REFERENCES incoming_mail (id);
ALTER TABLE outbox_message ADD CONSTRAINT outbox_message_owner
    CHECK (appeal_id IS NOT NULL OR incoming_mail_id IS NOT NULL);
CREATE INDEX outbox_by_incoming_mail ON outbox_message (incoming_mail_id) WHERE incoming_mail_id IS NOT NULL;

-- The view lists m.* as it was when created: made again so it shows the new column.
DROP VIEW delivery;
CREATE VIEW delivery AS
SELECT m.*,
       CASE WHEN delivered_at IS NOT NULL THEN 'delivered'
            WHEN dead_at IS NOT NULL THEN 'dead'
            WHEN published_at IS NOT NULL THEN 'in-flight'
            WHEN attempts > 0 THEN 'retrying'
            ELSE 'pending' END AS status
  FROM outbox_message m;

ALTER TABLE incoming_mail_reply DROP COLUMN sent_at;

-- SMS delivery receipts in the operators' views (service/monitoring.py): the parts whose receipt
-- says the handset did not get them are listed beside the stuck deliveries, read on this index
-- (FAILED_STATES in adapters/db/sms.py), so the view does not scan every receipt ever kept.
CREATE INDEX sms_receipt_failed ON sms_receipt (received_at)
    WHERE state IN ('UNDELIV', 'EXPIRED', 'REJECTD', 'DELETED');
