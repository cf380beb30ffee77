//! One integration-test binary: every feature's tests, sharing the harness.

#[allow(dead_code)] // the harness offers more than any one test module uses
mod helpers;

mod admin;
mod auth;
mod deploy;
mod documents;
mod email;
mod embedded_cli;
mod foundation;
mod oauth;
mod oauth_idp;
mod projects;
mod ratelimit_api;
mod rbac;
mod retention;
mod routes;
mod scale;
mod support;
mod tenants;
mod users;
