//! Users: the caller's profile and sessions, listing with filters, stats and the
//! security view, updates and deactivation (tokens die), invitations, bulk create
//! and bulk actions.

mod bulk;
mod invitations;
mod lifecycle;
mod listing;
mod profile;
