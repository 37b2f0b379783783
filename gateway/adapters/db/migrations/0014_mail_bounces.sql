-- A bounce is the last word on an e-mail delivery: the SMTP server took the message (the attempt
-- was "delivered"), then a server further on could not hand it over and sent a delivery status
-- notification back. The delivery becomes dead (operators see it with the bounce's status code,
-- metrics count it, nothing retries it; an operator may replay it once the cause is fixed), and
-- the bounce is kept as an attempt of its own, so the history reads delivered, then bounced.

ALTER TABLE delivery_attempt DROP CONSTRAINT delivery_attempt_outcome_check;
ALTER TABLE delivery_attempt ADD CONSTRAINT delivery_attempt_outcome_check
    CHECK (outcome IN ('delivered', 'retry', 'dead', 'lost', 'bounced'));
