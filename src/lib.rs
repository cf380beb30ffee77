//! tenantry: an enterprise multi-tenant backend. See README.md for the tour.

pub mod app;
pub mod audit;
pub mod auth;
pub mod bootstrap;
pub mod config;
pub mod crypto;
pub mod db;
pub mod email;
pub mod http;
pub mod oauth;
pub mod pagination;
pub mod rbac;
pub mod telemetry;
pub mod seed;
pub mod tenants;
pub mod admin;
pub mod storage;
pub mod projects;
pub mod users;
