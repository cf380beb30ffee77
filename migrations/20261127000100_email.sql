-- Email delivery: why a message was skipped, when a suppression last changed,
-- and the indexes the worker and the health check read.

-- Set when the worker skips a message because its address is suppressed.
ALTER TABLE email_outbox ADD COLUMN suppressed_reason text;

-- The newest sent message (health: last success) without scanning the table.
CREATE INDEX email_outbox_sent_at ON email_outbox (sent_at DESC) WHERE status = 'sent';

-- A repeated bounce or complaint refreshes the row instead of adding one.
ALTER TABLE email_suppressions ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();
CREATE INDEX email_suppressions_created ON email_suppressions (created_at DESC, email);
