-- An OIDC state is either a sign-in or an administrator's "test sign-in" of a
-- provider's configuration (console, issue 17). A test state is only ever
-- consumed by the test's return, so a test can never sign anyone in.
ALTER TABLE oauth_states
    ADD COLUMN purpose text NOT NULL DEFAULT 'sign_in' CHECK (purpose IN ('sign_in', 'test'));
