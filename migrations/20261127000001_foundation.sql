-- tenantry foundation: roles, helpers, every table, Row-Level Security, audit chain.
--
-- Two database roles are created here (cluster-wide, so guarded):
--   tenantry_app       NOSUPERUSER NOBYPASSRLS: every pooled server connection runs as it.
--   tenantry_platform  BYPASSRLS: only the super-admin handle and SECURITY DEFINER
--                      functions (pre-authentication look-ups) act as it.
-- The migrating user becomes a member of both so the server can SET ROLE.

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tenantry_app') THEN
        CREATE ROLE tenantry_app NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tenantry_platform') THEN
        CREATE ROLE tenantry_platform NOLOGIN NOSUPERUSER BYPASSRLS NOCREATEDB NOCREATEROLE;
    END IF;
    IF NOT pg_has_role(current_user, 'tenantry_app', 'MEMBER') THEN
        EXECUTE format('GRANT tenantry_app TO %I', current_user);
    END IF;
    IF NOT pg_has_role(current_user, 'tenantry_platform', 'MEMBER') THEN
        EXECUTE format('GRANT tenantry_platform TO %I', current_user);
    END IF;
END
$$;

GRANT USAGE ON SCHEMA public TO tenantry_app, tenantry_platform;

-- The tenant of the current transaction, or NULL. Inlined by the planner.
CREATE FUNCTION app_current_tenant() RETURNS uuid
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT NULLIF(current_setting('app.tenant_id', true), '')::uuid $$;

CREATE FUNCTION set_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END
$$;

-- ---------------------------------------------------------------- tenants
CREATE TABLE tenants (
    id                 uuid PRIMARY KEY,
    slug               text NOT NULL UNIQUE
                       CHECK (slug ~ '^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$'),
    name               text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    is_active          boolean NOT NULL DEFAULT true,
    is_system          boolean NOT NULL DEFAULT false,
    settings           jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(settings) = 'object'),
    max_users          integer NOT NULL DEFAULT 100 CHECK (max_users >= 0),
    max_projects       integer NOT NULL DEFAULT 1000 CHECK (max_projects >= 0),
    max_storage_bytes  bigint  NOT NULL DEFAULT 10737418240 CHECK (max_storage_bytes >= 0),
    storage_used_bytes bigint  NOT NULL DEFAULT 0 CHECK (storage_used_bytes >= 0),
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    created_by         uuid,
    updated_by         uuid
);
CREATE UNIQUE INDEX tenants_one_system ON tenants (is_system) WHERE is_system;
CREATE INDEX tenants_created_at ON tenants (created_at DESC, id);
CREATE INDEX tenants_name ON tenants (lower(name));
CREATE TRIGGER tenants_updated_at BEFORE UPDATE ON tenants FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- The platform's own tenant (like Keycloak's master realm): holds the super admins.
INSERT INTO tenants (id, slug, name, is_system, max_users, max_projects)
VALUES ('00000000-0000-0000-0000-000000000001', 'system', 'System', true, 1000, 0);

-- ---------------------------------------------------------------- permissions (global catalogue)
CREATE TABLE permissions (
    name        text PRIMARY KEY CHECK (name ~ '^[a-z]+:[a-z]+$'),
    description text NOT NULL
);
INSERT INTO permissions (name, description) VALUES
    ('users:create', 'Create users'),
    ('users:read', 'Read users'),
    ('users:update', 'Update users'),
    ('users:delete', 'Deactivate users'),
    ('users:invite', 'Invite users'),
    ('projects:create', 'Create projects'),
    ('projects:read', 'Read projects'),
    ('projects:update', 'Update projects'),
    ('projects:delete', 'Delete projects'),
    ('documents:create', 'Create documents'),
    ('documents:read', 'Read documents'),
    ('documents:update', 'Update documents'),
    ('documents:delete', 'Delete documents'),
    ('documents:download', 'Download document contents'),
    ('tenant:manage', 'Manage tenant settings'),
    ('tenant:billing', 'Manage tenant billing'),
    ('roles:create', 'Create roles'),
    ('roles:read', 'Read roles and permissions'),
    ('roles:update', 'Update roles'),
    ('roles:delete', 'Delete roles'),
    ('roles:assign', 'Assign roles to users'),
    ('audit:read', 'Read the audit log');

-- ---------------------------------------------------------------- users
CREATE TABLE users (
    tenant_id          uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id                 uuid NOT NULL,
    email              text NOT NULL CHECK (email ~ '^[^@\s]+@[^@\s]+\.[^@\s]+$' AND length(email) <= 254),
    first_name         text NOT NULL DEFAULT '' CHECK (length(first_name) <= 100),
    last_name          text NOT NULL DEFAULT '' CHECK (length(last_name) <= 100),
    password_hash      text,
    is_active          boolean NOT NULL DEFAULT true,
    is_super_admin     boolean NOT NULL DEFAULT false,
    email_verified_at  timestamptz,
    failed_login_count integer NOT NULL DEFAULT 0 CHECK (failed_login_count >= 0),
    locked_until       timestamptz,
    last_login_at      timestamptz,
    mfa_enabled        boolean NOT NULL DEFAULT false,
    totp_secret_enc    bytea,
    totp_pending_enc   bytea,
    totp_last_step     bigint,
    recovery_codes     text[] NOT NULL DEFAULT '{}',
    version            integer NOT NULL DEFAULT 1,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    created_by         uuid,
    updated_by         uuid,
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT users_super_admin_in_system
        CHECK (NOT is_super_admin OR tenant_id = '00000000-0000-0000-0000-000000000001')
);
CREATE UNIQUE INDEX users_tenant_email ON users (tenant_id, lower(email));
CREATE INDEX users_email ON users (lower(email));
CREATE INDEX users_tenant_created ON users (tenant_id, created_at DESC, id);
CREATE INDEX users_tenant_active ON users (tenant_id, is_active);
CREATE TRIGGER users_updated_at BEFORE UPDATE ON users FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- External identities (OIDC subjects) linked to users.
CREATE TABLE user_identities (
    tenant_id  uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id         uuid NOT NULL,
    user_id    uuid NOT NULL,
    provider   text NOT NULL CHECK (provider IN ('microsoft', 'google')),
    issuer     text NOT NULL,
    subject    text NOT NULL,
    email      text,
    created_at timestamptz NOT NULL DEFAULT now(),
    last_login_at timestamptz,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE,
    UNIQUE (tenant_id, provider, issuer, subject)
);
CREATE INDEX user_identities_user ON user_identities (tenant_id, user_id);

-- ---------------------------------------------------------------- roles and permissions
CREATE TABLE roles (
    tenant_id   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id          uuid NOT NULL,
    name        text NOT NULL CHECK (name ~ '^[A-Za-z0-9_][A-Za-z0-9_ .-]{0,62}$'),
    description text NOT NULL DEFAULT '' CHECK (length(description) <= 500),
    is_system   boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    created_by  uuid,
    updated_by  uuid,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, name)
);
CREATE TRIGGER roles_updated_at BEFORE UPDATE ON roles FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE role_permissions (
    tenant_id  uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    role_id    uuid NOT NULL,
    permission text NOT NULL REFERENCES permissions (name),
    PRIMARY KEY (tenant_id, role_id, permission),
    FOREIGN KEY (tenant_id, role_id) REFERENCES roles (tenant_id, id) ON DELETE CASCADE
);

CREATE TABLE user_roles (
    tenant_id  uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    user_id    uuid NOT NULL,
    role_id    uuid NOT NULL,
    expires_at timestamptz,
    granted_by uuid,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, user_id, role_id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, role_id) REFERENCES roles (tenant_id, id)
);
CREATE INDEX user_roles_role ON user_roles (tenant_id, role_id);
CREATE INDEX user_roles_expiry ON user_roles (expires_at) WHERE expires_at IS NOT NULL;

-- ---------------------------------------------------------------- sessions and tokens
CREATE TABLE user_sessions (
    tenant_id            uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id                   uuid NOT NULL,
    user_id              uuid NOT NULL,
    ip_address           text,
    user_agent           text,
    auth_method          text NOT NULL DEFAULT 'password'
                         CHECK (auth_method IN ('password', 'mfa', 'oauth', 'impersonation', 'invitation', 'refresh')),
    impersonator_id      uuid,
    impersonator_email   text,
    impersonation_reason text,
    created_at           timestamptz NOT NULL DEFAULT now(),
    last_used_at         timestamptz NOT NULL DEFAULT now(),
    expires_at           timestamptz NOT NULL,
    revoked_at           timestamptz,
    revoked_reason       text,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE,
    CHECK ((impersonator_id IS NULL) = (impersonation_reason IS NULL))
);
CREATE INDEX user_sessions_user ON user_sessions (tenant_id, user_id, created_at DESC);
CREATE INDEX user_sessions_expires ON user_sessions (expires_at);

-- Every refresh token ever issued for a session; only the newest unused one is valid.
-- Presenting a used one is reuse: the whole session (family) is revoked.
CREATE TABLE refresh_tokens (
    tenant_id  uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    token_hash bytea NOT NULL,
    session_id uuid NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    used_at    timestamptz,
    PRIMARY KEY (tenant_id, token_hash),
    FOREIGN KEY (tenant_id, session_id) REFERENCES user_sessions (tenant_id, id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX refresh_tokens_hash ON refresh_tokens (token_hash);
CREATE INDEX refresh_tokens_session ON refresh_tokens (tenant_id, session_id);

CREATE TABLE oauth_tokens (
    tenant_id         uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id                uuid NOT NULL,
    user_id           uuid NOT NULL,
    provider          text NOT NULL CHECK (provider IN ('microsoft', 'google')),
    access_token_enc  bytea,
    refresh_token_enc bytea,
    expires_at        timestamptz,
    scope             text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, user_id, provider),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);
CREATE TRIGGER oauth_tokens_updated_at BEFORE UPDATE ON oauth_tokens FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- Single-use, hashed, expiring tokens for password reset and email verification.
CREATE TABLE password_reset_tokens (
    tenant_id  uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id         uuid NOT NULL,
    user_id    uuid NOT NULL,
    token_hash bytea NOT NULL UNIQUE,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX password_reset_tokens_user ON password_reset_tokens (tenant_id, user_id);

CREATE TABLE email_verification_tokens (
    tenant_id  uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id         uuid NOT NULL,
    user_id    uuid NOT NULL,
    token_hash bytea NOT NULL UNIQUE,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX email_verification_tokens_user ON email_verification_tokens (tenant_id, user_id);

CREATE TABLE invitations (
    tenant_id   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id          uuid NOT NULL,
    email       text NOT NULL CHECK (email ~ '^[^@\s]+@[^@\s]+\.[^@\s]+$'),
    role_names  text[] NOT NULL DEFAULT '{}',
    token_hash  bytea NOT NULL UNIQUE,
    invited_by  uuid,
    expires_at  timestamptz NOT NULL,
    accepted_at timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX invitations_open_email ON invitations (tenant_id, lower(email)) WHERE accepted_at IS NULL;

CREATE TABLE oauth_states (
    tenant_id     uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    state_hash    bytea NOT NULL,
    provider      text NOT NULL CHECK (provider IN ('microsoft', 'google')),
    nonce         text NOT NULL,
    pkce_verifier text NOT NULL,
    redirect_uri  text NOT NULL,
    expires_at    timestamptz NOT NULL,
    used_at       timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, state_hash)
);
CREATE INDEX oauth_states_expires ON oauth_states (expires_at);

-- ---------------------------------------------------------------- identity providers
CREATE TABLE tenant_identity_providers (
    tenant_id             uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id                    uuid NOT NULL,
    provider              text NOT NULL CHECK (provider IN ('microsoft', 'google')),
    client_id             text,
    client_secret_enc     bytea,
    azure_tenant_id       text,
    allowed_domains       text[] NOT NULL DEFAULT '{}',
    auto_provision_users  boolean NOT NULL DEFAULT false,
    default_role_name     text NOT NULL DEFAULT 'user',
    is_enabled            boolean NOT NULL DEFAULT true,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    created_by            uuid,
    updated_by            uuid,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, provider),
    CHECK (provider <> 'microsoft' OR azure_tenant_id IS NOT NULL)
);
CREATE TRIGGER tenant_identity_providers_updated_at BEFORE UPDATE ON tenant_identity_providers
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- ---------------------------------------------------------------- projects and documents
CREATE TABLE projects (
    tenant_id   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id          uuid NOT NULL,
    name        text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    description text NOT NULL DEFAULT '' CHECK (length(description) <= 10000),
    status      text NOT NULL DEFAULT 'active'
                CHECK (status IN ('active', 'on_hold', 'completed', 'archived')),
    version     integer NOT NULL DEFAULT 1,
    search      tsvector GENERATED ALWAYS AS (
                    setweight(to_tsvector('english', name), 'A') ||
                    setweight(to_tsvector('english', description), 'B')) STORED,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    created_by  uuid,
    updated_by  uuid,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX projects_tenant_created ON projects (tenant_id, created_at DESC, id);
CREATE INDEX projects_tenant_status ON projects (tenant_id, status, created_at DESC);
CREATE INDEX projects_tenant_name ON projects (tenant_id, lower(name));
CREATE INDEX projects_tenant_updated ON projects (tenant_id, updated_at DESC);
CREATE INDEX projects_search ON projects USING gin (search);
CREATE TRIGGER projects_updated_at BEFORE UPDATE ON projects FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE documents (
    tenant_id         uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id                uuid NOT NULL,
    project_id        uuid NOT NULL,
    name              text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 255),
    description       text NOT NULL DEFAULT '' CHECK (length(description) <= 10000),
    content_type      text NOT NULL DEFAULT 'application/octet-stream'
                      CHECK (content_type ~ '^[A-Za-z0-9!#$&^_.+-]+/[A-Za-z0-9!#$&^_.+-]+$'),
    status            text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'pending', 'uploaded')),
    size_bytes        bigint CHECK (size_bytes >= 0),
    sha256            text CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    storage_key       text,
    upload_expires_at timestamptz,
    uploaded_at       timestamptz,
    version           integer NOT NULL DEFAULT 1,
    search            tsvector GENERATED ALWAYS AS (
                          setweight(to_tsvector('english', name), 'A') ||
                          setweight(to_tsvector('english', description), 'B')) STORED,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    created_by        uuid,
    updated_by        uuid,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, project_id) REFERENCES projects (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX documents_tenant_project ON documents (tenant_id, project_id, created_at DESC);
CREATE INDEX documents_tenant_created ON documents (tenant_id, created_at DESC, id);
CREATE INDEX documents_tenant_type ON documents (tenant_id, content_type);
CREATE INDEX documents_pending ON documents (upload_expires_at) WHERE status = 'pending';
CREATE INDEX documents_search ON documents USING gin (search);
CREATE TRIGGER documents_updated_at BEFORE UPDATE ON documents FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- ---------------------------------------------------------------- login history and security events
CREATE TABLE login_attempts (
    tenant_id  uuid REFERENCES tenants (id) ON DELETE CASCADE,  -- NULL: no account matched
    id         uuid NOT NULL PRIMARY KEY,
    user_id    uuid,
    email      text NOT NULL,
    ip_address text,
    user_agent text,
    method     text NOT NULL DEFAULT 'password',
    success    boolean NOT NULL,
    reason     text,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX login_attempts_tenant_user ON login_attempts (tenant_id, user_id, created_at DESC);
CREATE INDEX login_attempts_created ON login_attempts (created_at DESC);
CREATE INDEX login_attempts_ip ON login_attempts (ip_address, created_at DESC);
CREATE INDEX login_attempts_email ON login_attempts (lower(email), created_at DESC);

CREATE TABLE security_events (
    tenant_id  uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id         uuid NOT NULL,
    user_id    uuid,
    event_type text NOT NULL CHECK (event_type ~ '^[a-z_.]+$'),
    details    jsonb NOT NULL DEFAULT '{}'::jsonb,
    ip_address text,
    user_agent text,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX security_events_user ON security_events (tenant_id, user_id, created_at DESC);
CREATE INDEX security_events_type ON security_events (event_type, created_at DESC);

-- ---------------------------------------------------------------- email
CREATE TABLE email_outbox (
    tenant_id           uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id                  uuid NOT NULL,
    to_email            text NOT NULL,
    template            text NOT NULL CHECK (template IN
                        ('welcome', 'password_reset', 'email_verification', 'invitation', 'security_alert')),
    context             jsonb NOT NULL DEFAULT '{}'::jsonb,
    status              text NOT NULL DEFAULT 'pending'
                        CHECK (status IN ('pending', 'sent', 'dead', 'suppressed')),
    attempts            integer NOT NULL DEFAULT 0,
    next_attempt_at     timestamptz NOT NULL DEFAULT now(),
    last_error          text,
    provider            text,
    provider_message_id text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    sent_at             timestamptz,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX email_outbox_due ON email_outbox (next_attempt_at) WHERE status = 'pending';
CREATE INDEX email_outbox_status ON email_outbox (status, created_at);

CREATE TABLE email_suppressions (
    email      text PRIMARY KEY CHECK (email = lower(email)),
    reason     text NOT NULL CHECK (reason IN ('bounce', 'complaint', 'manual')),
    details    jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- ---------------------------------------------------------------- audit log (append-only, hash-chained per tenant)
CREATE TABLE audit_chain_heads (
    tenant_id uuid PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
    seq       bigint NOT NULL,
    hash      bytea NOT NULL
);

CREATE TABLE audit_logs (
    tenant_id       uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id              uuid NOT NULL,
    seq             bigint NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    actor_id        uuid,
    impersonator_id uuid,
    action          text NOT NULL CHECK (action ~ '^[a-z_]+\.[a-z_.]+$'),
    resource_type   text NOT NULL,
    resource_id     text,
    old_values      jsonb,
    new_values      jsonb,
    ip_address      text,
    user_agent      text,
    request_id      text,
    prev_hash       bytea NOT NULL,
    hash            bytea NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, seq)
);
CREATE INDEX audit_logs_tenant_created ON audit_logs (tenant_id, created_at DESC);
CREATE INDEX audit_logs_tenant_actor ON audit_logs (tenant_id, actor_id, created_at DESC);
CREATE INDEX audit_logs_tenant_resource ON audit_logs (tenant_id, resource_type, created_at DESC);
CREATE INDEX audit_logs_action ON audit_logs (action, created_at DESC);
CREATE INDEX audit_logs_created ON audit_logs (created_at DESC);

-- The canonical content a row's hash covers.
CREATE FUNCTION audit_row_digest(r audit_logs) RETURNS bytea
    LANGUAGE sql IMMUTABLE AS $$
    SELECT sha256(
        r.prev_hash || convert_to(jsonb_build_array(
            r.tenant_id, r.id, r.seq, to_char(r.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'),
            r.actor_id, r.impersonator_id, r.action, r.resource_type, r.resource_id,
            r.old_values, r.new_values, r.ip_address, r.user_agent, r.request_id)::text, 'UTF8'))
$$;

-- Fill seq, prev_hash and hash from the tenant's chain head, locked for this
-- transaction only: tenants never wait on each other.
CREATE FUNCTION audit_logs_chain() RETURNS trigger
    LANGUAGE plpgsql AS $$
DECLARE
    head audit_chain_heads;
BEGIN
    INSERT INTO audit_chain_heads (tenant_id, seq, hash)
    VALUES (NEW.tenant_id, 0, '\x'::bytea)
    ON CONFLICT (tenant_id) DO NOTHING;
    SELECT * INTO head FROM audit_chain_heads WHERE tenant_id = NEW.tenant_id FOR UPDATE;
    NEW.seq := head.seq + 1;
    NEW.prev_hash := head.hash;
    NEW.created_at := clock_timestamp();
    NEW.hash := audit_row_digest(NEW);
    UPDATE audit_chain_heads SET seq = NEW.seq, hash = NEW.hash WHERE tenant_id = NEW.tenant_id;
    RETURN NEW;
END
$$;
CREATE TRIGGER audit_logs_chain BEFORE INSERT ON audit_logs FOR EACH ROW EXECUTE FUNCTION audit_logs_chain();

-- Audit rows are never changed. Deletion only happens when the whole tenant is
-- deleted (the cascade from tenants), never row by row.
CREATE FUNCTION audit_logs_immutable() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
    IF TG_OP = 'DELETE' AND NOT EXISTS (SELECT 1 FROM tenants WHERE id = OLD.tenant_id) THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit_logs is append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER audit_logs_immutable BEFORE UPDATE OR DELETE ON audit_logs
    FOR EACH ROW EXECUTE FUNCTION audit_logs_immutable();
CREATE TRIGGER audit_logs_no_truncate BEFORE TRUNCATE ON audit_logs
    FOR EACH STATEMENT EXECUTE FUNCTION audit_logs_immutable();

-- Walk a tenant's chain; the first row whose stored hash or link does not match.
CREATE FUNCTION audit_verify_chain(p_tenant uuid)
    RETURNS TABLE (checked bigint, first_broken_id uuid, first_broken_seq bigint)
    LANGUAGE plpgsql STABLE AS $$
DECLARE
    r audit_logs;
    prev bytea := '\x'::bytea;
    n bigint := 0;
BEGIN
    FOR r IN SELECT * FROM audit_logs WHERE tenant_id = p_tenant ORDER BY seq LOOP
        n := n + 1;
        IF r.prev_hash <> prev OR r.hash <> audit_row_digest(r) OR r.seq <> n THEN
            RETURN QUERY SELECT n, r.id, r.seq;
            RETURN;
        END IF;
        prev := r.hash;
    END LOOP;
    RETURN QUERY SELECT n, NULL::uuid, NULL::bigint;
END
$$;

-- ---------------------------------------------------------------- platform bookkeeping (global)
CREATE TABLE maintenance_runs (
    id         uuid PRIMARY KEY,
    ran_at     timestamptz NOT NULL DEFAULT now(),
    ran_by     uuid,
    counts     jsonb NOT NULL
);

-- ---------------------------------------------------------------- Row-Level Security
-- One policy per tenant table; FORCE so that even the table owner obeys it.
DO $$
DECLARE
    t text;
BEGIN
    FOR t IN
        SELECT c.table_name FROM information_schema.columns c
        JOIN information_schema.tables tb USING (table_schema, table_name)
        WHERE c.table_schema = 'public' AND c.column_name = 'tenant_id' AND tb.table_type = 'BASE TABLE'
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format(
            'CREATE POLICY tenant_isolation ON %I USING (tenant_id = app_current_tenant()) '
            'WITH CHECK (tenant_id = app_current_tenant())', t);
    END LOOP;
END
$$;

-- A tenant sees only its own tenant row.
ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenants FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenants USING (id = app_current_tenant()) WITH CHECK (id = app_current_tenant());

-- ---------------------------------------------------------------- privileges
GRANT SELECT ON permissions TO tenantry_app;
GRANT SELECT, UPDATE (storage_used_bytes) ON tenants TO tenantry_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON
    users, user_identities, roles, role_permissions, user_roles, user_sessions, refresh_tokens,
    oauth_tokens, password_reset_tokens, email_verification_tokens, invitations, oauth_states,
    tenant_identity_providers, projects, documents, security_events, email_outbox
    TO tenantry_app;
GRANT SELECT, INSERT ON login_attempts TO tenantry_app;
GRANT SELECT ON email_suppressions TO tenantry_app;
GRANT SELECT, INSERT ON audit_logs TO tenantry_app;
GRANT SELECT, INSERT, UPDATE ON audit_chain_heads TO tenantry_app;

GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO tenantry_platform;
REVOKE UPDATE ON audit_logs FROM tenantry_platform;
GRANT SELECT ON _sqlx_migrations TO tenantry_app, tenantry_platform;

-- ---------------------------------------------------------------- pre-authentication look-ups
-- Narrow SECURITY DEFINER functions (owned by the BYPASSRLS platform role) that
-- return only what one step of sign-in needs, before any tenant is known.

-- Accounts that could sign in with this email (optionally in one tenant).
CREATE FUNCTION auth_login_candidates(p_email text, p_tenant_slug text)
    RETURNS TABLE (tenant_id uuid, tenant_slug text, tenant_name text, tenant_active boolean,
                   user_id uuid, password_hash text, user_active boolean,
                   locked_until timestamptz, failed_login_count integer, mfa_enabled boolean,
                   is_super_admin boolean)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
    SELECT t.id, t.slug, t.name, t.is_active, u.id, u.password_hash, u.is_active,
           u.locked_until, u.failed_login_count, u.mfa_enabled, u.is_super_admin
    FROM users u JOIN tenants t ON t.id = u.tenant_id
    WHERE lower(u.email) = lower(p_email)
      AND (p_tenant_slug IS NULL OR t.slug = lower(p_tenant_slug))
    ORDER BY t.slug
    LIMIT 50
$$;

CREATE FUNCTION auth_tenant_by_slug(p_slug text)
    RETURNS TABLE (id uuid, slug text, name text, is_active boolean)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
    SELECT id, slug, name, is_active FROM tenants WHERE slug = lower(p_slug)
$$;

-- Which tenant an opaque token (stored hashed) belongs to.
CREATE FUNCTION auth_token_tenant(p_kind text, p_hash bytea)
    RETURNS uuid
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
    SELECT CASE p_kind
        WHEN 'refresh' THEN (SELECT tenant_id FROM refresh_tokens WHERE token_hash = p_hash)
        WHEN 'password_reset' THEN (SELECT tenant_id FROM password_reset_tokens WHERE token_hash = p_hash)
        WHEN 'email_verification' THEN (SELECT tenant_id FROM email_verification_tokens WHERE token_hash = p_hash)
        WHEN 'invitation' THEN (SELECT tenant_id FROM invitations WHERE token_hash = p_hash)
    END
$$;

-- Login attempts are recorded before (or without) a tenant being known.
CREATE FUNCTION record_login_attempt(p_tenant uuid, p_user uuid, p_email text, p_ip text,
                                     p_user_agent text, p_method text, p_success boolean, p_reason text)
    RETURNS void
    LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public AS $$
    INSERT INTO login_attempts (tenant_id, id, user_id, email, ip_address, user_agent, method, success, reason)
    VALUES (p_tenant, gen_random_uuid(), p_user, p_email, p_ip, p_user_agent, p_method, p_success, p_reason)
$$;

ALTER FUNCTION auth_login_candidates(text, text) OWNER TO tenantry_platform;
ALTER FUNCTION auth_tenant_by_slug(text) OWNER TO tenantry_platform;
ALTER FUNCTION auth_token_tenant(text, bytea) OWNER TO tenantry_platform;
ALTER FUNCTION record_login_attempt(uuid, uuid, text, text, text, text, boolean, text) OWNER TO tenantry_platform;
ALTER FUNCTION audit_logs_immutable() OWNER TO tenantry_platform;
REVOKE EXECUTE ON FUNCTION auth_login_candidates(text, text), auth_tenant_by_slug(text),
    auth_token_tenant(text, bytea), record_login_attempt(uuid, uuid, text, text, text, text, boolean, text)
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION auth_login_candidates(text, text), auth_tenant_by_slug(text),
    auth_token_tenant(text, bytea), record_login_attempt(uuid, uuid, text, text, text, text, boolean, text)
    TO tenantry_app;
