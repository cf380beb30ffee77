//! tenantry: an enterprise multi-tenant backend. See README.md for the tour.

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
pub mod http;
pub mod integrations;
pub mod jobs;
pub mod oauth;
pub mod pagination;
pub mod projects;
pub mod rbac;
pub mod rotate_keys;
pub mod router;
pub mod seed;
pub mod storage;
pub mod telemetry;
pub mod tenants;
pub mod users;

#[cfg(test)]
mod layout_tests;
