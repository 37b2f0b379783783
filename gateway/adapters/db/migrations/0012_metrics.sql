-- Indexes for what Prometheus reads at every scrape (gateway/adapters/db/metrics.py), so a scrape
-- touches open work only, never the years of settled appeals and messages.

-- Refused messages wait for an operator; counted per agency (mailbox_open leaves them out).
CREATE INDEX mailbox_refused ON mailbox_message (agency_code)
    WHERE refused_at IS NOT NULL AND acked_at IS NULL;

-- Appeals whose legal clock runs: they can still be registered (register_by) or answered
-- (answer_by). The states are the lifecycle's sources of REGISTER and ANSWER; the query names
-- them as literals, so the planner can prove it may use this index.
CREATE INDEX appeal_clock_running ON appeal (agency_code, state, register_by, answer_by)
    WHERE state IN ('routed', 'redirected', 'delivered', 'acknowledged', 'registered', 'in-progress',
                    'extended');

-- Delivery attempts of the last minutes (the metric is a window: the table only grows).
CREATE INDEX delivery_attempt_finished ON delivery_attempt (finished_at);
