//! Foundation properties: RLS at SQL level as the server's own role, the RLS
//! catalogue, the audit chain, readiness, and the problem+json error shape.

mod audit_chain;
mod availability;
mod responses;
mod rls;
