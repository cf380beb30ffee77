//! Outbound webhooks: the endpoints API, signed in-order delivery to a local
//! receiver, retries, rotation, and the SSRF refusals.

mod delivery;
mod endpoints;
mod key_rotation;
pub(crate) mod receiver;
