//! One integration-test binary: every feature's tests, sharing the harness.

#[allow(dead_code)] // the harness offers more than any one test module uses
mod helpers;

mod admin;
mod auth;
mod console;
mod deploy;
mod email;
mod foundation;
mod hardening;
mod integrations;
mod oauth;
mod production;
mod projects;
mod rbac;
mod routes;
mod scale;
mod scim;
mod support;
mod telemetry;
mod tenant_reads;
mod tenants;
mod users;
mod webhooks;
