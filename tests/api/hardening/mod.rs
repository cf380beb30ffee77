//! The hardening rules of API.md, one file per rule family, each with a test per
//! route that could break it (README → Security model lists them).

mod admins;
mod guessing;
mod headers;
mod input;
mod leaks;
mod logs;
mod proxy;
mod roles;
mod search;
mod tokens;
mod unlock;
mod webhook;
