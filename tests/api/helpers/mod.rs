//! The test harness: a real PostgreSQL (DATABASE_URL, or the embedded cluster),
//! one fresh database per test cloned from a migrated template, and the real
//! router served on a loopback port.
//!
//! - `db`: the test cluster, its migrated template and one [`TestDb`] per test;
//! - `app`: [`TestApp`], the real router on a loopback port, and [`TestConfig`];
//! - `requests`: JSON calls, sign-in and tokens on [`TestApp`], and [`Resp`];
//! - `seed`: [`TestApp::seed_tenant`], a tenant with one user per system role.

mod app;
mod db;
mod requests;
mod seed;

pub use app::{TestApp, TestConfig};
pub use db::TestDb;
pub use requests::Resp;
pub use seed::SeededTenant;

pub const SUPER_ADMIN_EMAIL: &str = "root@tenantry.test";
pub const SUPER_ADMIN_PASSWORD: &str = "Super-Admin-Pass-2026!";
pub const PASSWORD: &str = "Correct-Horse-Battery-9";
