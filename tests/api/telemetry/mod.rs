//! OpenTelemetry traces: a real `tenantry serve` exports to an OTLP/HTTP receiver
//! the test runs itself, and the spans it receives name the route, the tenant,
//! the status and the database transactions.

mod otlp;
