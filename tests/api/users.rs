//! Users: the caller's profile, listing with filters, updates and deactivation
//! (tokens die), sessions, invitations, bulk create and bulk actions, stats and
//! the security view.
