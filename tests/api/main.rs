//! One integration-test binary: every feature's tests, sharing the harness.

#[allow(dead_code)] // the harness offers more than any one test module uses
mod helpers;

mod foundation;
mod email;
mod deploy;
mod oauth;
mod oauth_idp;
mod tenants;
mod auth;
mod rbac;
mod admin;
mod routes;
mod projects;
mod documents;
mod users;
mod scale;
