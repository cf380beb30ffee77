//! tenantry: an enterprise multi-tenant backend. See README.md for the tour
//! ("Architecture" maps every folder and every URL prefix to its code).
//!
//! Layers, arrows pointing down (`src/layout_tests/` checks the first two):
//! - kernel — [`config`], [`db`], [`http`], [`crypto`], [`pagination`],
//!   [`telemetry`]: names no feature and not `app`, `router` or `jobs`;
//! - services — [`email`], [`storage`]: take their own handles, never
//!   [`app::AppState`];
//! - [`app`]: the state and its construction;
//! - features — one folder per URL prefix ([`auth`], [`oauth`], [`tenants`],
//!   [`users`], [`rbac`], [`groups`], [`projects`], [`audit`], [`admin`],
//!   [`integrations`], [`scim`], [`console`]): handlers, model and SQL of
//!   their URLs; a table has one writer (`users` and `user_roles`:
//!   [`users::accounts`], test-enforced);
//! - [`router`] (the one route table) and [`jobs`] (every background task),
//!   assembled by `main`; the commands [`bootstrap`], [`seed`], [`rotate_keys`].
//!
//! **Where SQL lives.** HTTP handlers and console pages contain no SQL. SQL
//! lives in each feature's data modules — `repo.rs` (or a `repo/` folder),
//! plus the named modules that own a table, a flow or a job (the writer
//! [`users::accounts`], `auth::{session, tokens, signin}`, `email::outbox`,
//! the workers, the extractors' look-ups) — whose small
//! named functions (`list_x`, `find_x`, `insert_x`) take the caller's
//! transaction (`&mut TenantTx`, `&mut PlatformTx`, or `&mut PgConnection`
//! where both share the code) and return typed rows; handlers and pages call
//! them, and the console calls the API's functions rather than its own
//! queries. `src/layout_tests/` enforces it on every `handlers.rs`, every
//! file under a `handlers/` folder or under `console/`, every file with an
//! OpenAPI-documented handler (`#[utoipa::path]`) and the SCIM resource
//! handlers; its `SQL_IN_HANDLERS_EXEMPT` names the files not moved yet.

pub mod admin;
pub mod app;
pub mod audit;
pub mod auth;
pub mod bootstrap;
pub mod config;
pub mod console;
pub mod crypto;
pub mod db;
pub mod email;
pub mod groups;
pub mod http;
pub mod integrations;
pub mod jobs;
pub mod memory;
pub mod oauth;
pub mod pagination;
pub mod projects;
pub mod rbac;
pub mod rotate_keys;
pub mod router;
pub mod scim;
pub mod seed;
pub mod storage;
pub mod telemetry;
pub mod tenants;
pub mod users;

#[cfg(test)]
mod layout_tests;
