//! Impersonation and the super-admin API: dashboard, growth, audit search and
//! verification (tamper detection), threats (credential stuffing produced by
//! real failed sign-ins), problematic users, unlock, maintenance, config.

mod audit;
mod impersonation;
mod operations;
mod security;
