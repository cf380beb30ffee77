-- A dedicated email for a webhook endpoint disabled after its retries ran out
-- (it reused the security alert before).
ALTER TABLE email_outbox DROP CONSTRAINT email_outbox_template_check;
ALTER TABLE email_outbox ADD CONSTRAINT email_outbox_template_check CHECK (template IN
    ('welcome', 'password_reset', 'email_verification', 'invitation', 'security_alert', 'webhook_disabled'));
