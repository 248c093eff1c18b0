-- Delivery in order per entity (a message's kind and subject: a cell's results, a
-- machine's data, an order's confirmations), so one message the MES keeps failing
-- holds up only its own entity. A held message waits until `hold_until_ms`.
ALTER TABLE mes_outbox ADD COLUMN hold_until_ms INTEGER;
CREATE INDEX mes_outbox_entity ON mes_outbox (kind, subject, id) WHERE state = 'pending';
