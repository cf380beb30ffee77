//! The log layer's JSON for span fields (`LOG_FORMAT=json`), written without
//! the `serde_json::Value` map tracing-subscriber's own `JsonFields` builds.

use std::fmt::Write as _;

use tracing::span;
use tracing_subscriber::fmt;

/// A span's fields as one JSON object, written straight into the string the
/// log layer keeps with the span (tracing-subscriber's `JsonFields` builds a
/// map of `serde_json::Value`s and serialises it, and on `record` parses the
/// stored object and writes it out again). Every request span is built with
/// its method, route and request id and later records its tenant and user, so
/// with `LOG_FORMAT=json` this was the largest single cost of a cheap read. The
/// output is what `JsonFields` writes: strings, numbers, booleans, `Debug` and
/// errors as strings, `log.*` fields left out, `r#` prefixes dropped.
#[derive(Debug, Default)]
pub struct SpanJsonFields;

impl<'w> fmt::FormatFields<'w> for SpanJsonFields {
    fn format_fields<R: tracing_subscriber::field::RecordFields>(
        &self,
        mut writer: fmt::format::Writer<'w>,
        fields: R,
    ) -> std::fmt::Result {
        writer.write_char('{')?;
        let mut object = JsonObject::new(&mut writer, true);
        fields.record(&mut object);
        object.result?;
        writer.write_char('}')
    }

    fn add_fields(&self, current: &'w mut fmt::FormattedFields<Self>, fields: &span::Record<'_>) -> std::fmt::Result {
        let stored = &mut current.fields;
        let mut repeated = RepeatedKey {
            stored: stored.as_str(),
            found: false,
        };
        fields.record(&mut repeated);
        if repeated.found || !stored.ends_with('}') {
            // A field recorded again (its value replaced), or nothing stored yet.
            let mut added = String::new();
            self.format_fields(fmt::format::Writer::new(&mut added), fields)?;
            *stored = merge_json_fields(stored, &added)?;
            return Ok(());
        }
        stored.pop();
        let first = stored.trim_end() == "{";
        let mut object = JsonObject::new(stored, first);
        fields.record(&mut object);
        object.result?;
        stored.push('}');
        Ok(())
    }
}

/// The field name `JsonFields` would write, or `None` for a `log.*` field.
fn json_key(field: &tracing::field::Field) -> Option<&'static str> {
    let name = field.name();
    if name.starts_with("log.") {
        return None;
    }
    Some(name.strip_prefix("r#").unwrap_or(name))
}

/// Writes each visited field as `"key":value` into an object being written.
struct JsonObject<'a> {
    out: &'a mut dyn std::fmt::Write,
    first: bool,
    result: std::fmt::Result,
}

impl<'a> JsonObject<'a> {
    fn new(out: &'a mut dyn std::fmt::Write, first: bool) -> Self {
        Self {
            out,
            first,
            result: Ok(()),
        }
    }

    fn field(
        &mut self,
        field: &tracing::field::Field,
        value: impl FnOnce(&mut dyn std::fmt::Write) -> std::fmt::Result,
    ) {
        let Some(key) = json_key(field) else { return };
        if self.result.is_err() {
            return;
        }
        let separator = if std::mem::take(&mut self.first) { "\"" } else { ",\"" };
        self.result = (|| {
            self.out.write_str(separator)?;
            JsonEscaped(&mut *self.out).write_str(key)?;
            self.out.write_str("\":")?;
            value(&mut *self.out)
        })();
    }
}

impl tracing::field::Visit for JsonObject<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.field(field, |out| {
            out.write_char('"')?;
            write!(JsonEscaped(&mut *out), "{value:?}")?;
            out.write_char('"')
        });
    }
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.field(field, |out| {
            out.write_char('"')?;
            JsonEscaped(&mut *out).write_str(value)?;
            out.write_char('"')
        });
    }
    fn record_i64(&mut self, field: &tracing::field::Field, value: i64) {
        self.field(field, |out| write!(out, "{value}"));
    }
    fn record_u64(&mut self, field: &tracing::field::Field, value: u64) {
        self.field(field, |out| write!(out, "{value}"));
    }
    fn record_bool(&mut self, field: &tracing::field::Field, value: bool) {
        self.field(field, |out| write!(out, "{value}"));
    }
    fn record_f64(&mut self, field: &tracing::field::Field, value: f64) {
        // serde_json writes a NaN or an infinity as null.
        self.field(field, |out| {
            if value.is_finite() {
                write!(out, "{value}")
            } else {
                out.write_str("null")
            }
        });
    }
}

/// Whether a visited field's key is already in the stored object. A key is
/// found only as `"key":` outside a string: inside one every `"` is escaped.
struct RepeatedKey<'a> {
    stored: &'a str,
    found: bool,
}

impl tracing::field::Visit for RepeatedKey<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, _: &dyn std::fmt::Debug) {
        if let Some(key) = json_key(field) {
            self.found |= self
                .stored
                .match_indices(key)
                .any(|(at, _)| self.stored[..at].ends_with('"') && self.stored[at + key.len()..].starts_with("\":"));
        }
    }
}

/// JSON string escaping for what is written through it (as serde_json escapes).
struct JsonEscaped<'a>(&'a mut dyn std::fmt::Write);

impl std::fmt::Write for JsonEscaped<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let mut start = 0;
        for (i, byte) in s.bytes().enumerate() {
            let escape = match byte {
                b'"' => "\\\"",
                b'\\' => "\\\\",
                b'\n' => "\\n",
                b'\r' => "\\r",
                b'\t' => "\\t",
                0x08 => "\\b",
                0x0c => "\\f",
                0..=0x1f => "",
                _ => continue,
            };
            self.0.write_str(&s[start..i])?;
            if escape.is_empty() {
                write!(self.0, "\\u{byte:04x}")?;
            } else {
                self.0.write_str(escape)?;
            }
            start = i + 1;
        }
        self.0.write_str(&s[start..])
    }
}

/// `current` and `added` as one JSON object, `added`'s value winning for a key
/// in both; `current` may be empty (nothing stored yet). The slow path of
/// [`SpanJsonFields::add_fields`]: its usual case, a field declared empty and
/// recorded once, is appended in place.
fn merge_json_fields(current: &str, added: &str) -> Result<String, std::fmt::Error> {
    type Object = serde_json::Map<String, serde_json::Value>;
    let parse = |s: &str| serde_json::from_str::<Object>(s).map_err(|_| std::fmt::Error);
    let mut merged = if current.trim().is_empty() {
        Object::new()
    } else {
        parse(current)?
    };
    merged.extend(parse(added)?);
    serde_json::to_string(&merged).map_err(|_| std::fmt::Error)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{config::LogFormat, telemetry::log_layer_to};
    use tracing_subscriber::prelude::*;

    #[test]
    fn recorded_span_fields_are_merged_into_one_json_object() {
        let join = |current: &str, added: &str| merge_json_fields(current, added).unwrap();
        let parsed = |s: &str| serde_json::from_str::<serde_json::Value>(s).unwrap();
        // Recorded once into a span that had other fields: one object, still JSON.
        let out = join(r#"{"method":"GET","route":"/x"}"#, r#"{"tenant_id":"t1"}"#);
        assert_eq!(out, r#"{"method":"GET","route":"/x","tenant_id":"t1"}"#);
        assert_eq!(parsed(&out)["tenant_id"], "t1");
        // Into an empty span, and nothing new.
        assert_eq!(join("", r#"{"a":1}"#), r#"{"a":1}"#);
        assert_eq!(join("{}", r#"{"a":1}"#), r#"{"a":1}"#);
        assert_eq!(join(r#"{"a":1}"#, "{}"), r#"{"a":1}"#);
        // A field recorded again replaces its value (no duplicate key).
        let out = join(r#"{"a":1,"tenant_id":"t1"}"#, r#"{"tenant_id":"t2"}"#);
        assert_eq!(parsed(&out), serde_json::json!({"a": 1, "tenant_id": "t2"}));
        // A value that merely contains the key's text still gives valid JSON.
        let out = join(r#"{"note":"\"a\":"}"#, r#"{"a":2}"#);
        assert_eq!(parsed(&out), serde_json::json!({"note": "\"a\":", "a": 2}));
    }

    /// A log sink the tests read back.
    #[derive(Clone, Default)]
    struct Sink(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Sink {
        fn lines(&self) -> Vec<serde_json::Value> {
            let out = String::from_utf8(self.0.lock().unwrap().clone()).unwrap();
            out.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
        }
    }

    #[test]
    fn a_request_span_logs_its_recorded_tenant_in_json() {
        let sink = Sink::default();
        let writer = sink.clone();
        let subscriber = tracing_subscriber::registry().with(log_layer_to(LogFormat::Json, move || writer.clone()));
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!(
                "request",
                route = "/x",
                tenant_id = tracing::field::Empty,
                user_id = tracing::field::Empty
            );
            span.record("tenant_id", "t1");
            span.record("user_id", "u1");
            span.in_scope(|| tracing::warn!("inside"));
        });
        let line = &sink.lines()[0];
        assert_eq!(line["span"]["tenant_id"], "t1", "{line}");
        assert_eq!(line["span"]["user_id"], "u1", "{line}");
        assert_eq!(line["span"]["route"], "/x", "{line}");
    }

    /// The span as tracing-subscriber's own `JsonFields` logs it and as
    /// [`SpanJsonFields`] does, for the same fields: every kind of value,
    /// characters JSON must escape, a field recorded later and one recorded again.
    #[test]
    fn span_fields_are_logged_as_tracing_subscribers_json_fields_log_them() {
        fn log_with<N>(fields: N) -> serde_json::Value
        where
            N: for<'w> fmt::FormatFields<'w> + Send + Sync + 'static,
        {
            let sink = Sink::default();
            let writer = sink.clone();
            let layer = fmt::layer()
                .json()
                .flatten_event(true)
                .with_current_span(true)
                .fmt_fields(fields)
                .with_writer(move || writer.clone());
            tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
                let error = std::io::Error::other("disk \"full\"");
                let span = tracing::info_span!(
                    "request",
                    text = "quote \" backslash \\ newline \n tab \t bell \u{7} é ☃",
                    shown = %"display: \"x\"",
                    debugged = ?("tuple", 1),
                    r#type = "raw",
                    count = 42u64,
                    delta = -7i64,
                    on = true,
                    ratio = 0.25f64,
                    nan = f64::NAN,
                    failure = &error as &dyn std::error::Error,
                    tenant_id = tracing::field::Empty,
                    user_id = tracing::field::Empty,
                );
                span.record("tenant_id", "t\"1");
                span.record("user_id", 7u64);
                span.record("count", 43u64);
                span.in_scope(|| tracing::warn!("inside"));
            });
            sink.lines()[0]["span"].clone()
        }
        let ours = log_with(SpanJsonFields);
        let theirs = log_with(fmt::format::JsonFields::default());
        assert_eq!(ours, theirs);
        assert_eq!(ours["count"], 43, "{ours}");
        assert_eq!(ours["tenant_id"], "t\"1", "{ours}");
        assert_eq!(ours["type"], "raw", "{ours}");
    }
}
