//! Logging: JSON in production (`LOG_FORMAT=json`), human-readable otherwise.
//! Traces: OpenTelemetry over OTLP/HTTP (protobuf) when `OTEL_EXPORTER_OTLP_ENDPOINT`
//! is set; otherwise no tracing layer is installed and the span callsites only
//! the log filter wants (the request span) are ever built.

use std::{
    fmt::Write as _,
    sync::atomic::{AtomicBool, Ordering},
    time::Duration,
};

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::{Resource, trace::SdkTracerProvider};
use tracing::{Level, Metadata, Subscriber, span, subscriber::Interest};
use tracing_subscriber::{
    EnvFilter, Layer,
    filter::{LevelFilter, filter_fn},
    fmt,
    layer::{Context, Filter},
    prelude::*,
};

use crate::config::LogFormat;

static TRACES_ON: AtomicBool = AtomicBool::new(false);

/// Whether traces are exported: the request span then carries the OpenTelemetry
/// name, kind and status fields, which are left out otherwise (they would only
/// lengthen every log line).
pub fn traces_enabled() -> bool {
    TRACES_ON.load(Ordering::Relaxed)
}

/// Keeps the trace pipeline alive; dropping it flushes the spans still queued.
#[must_use = "dropping the guard stops the trace export"]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take()
            && let Err(err) = provider.shutdown()
        {
            eprintln!("tenantry: flushing traces failed: {err}");
        }
    }
}

/// Installs the log layer and, with `otel_endpoint`, the OpenTelemetry layer.
/// Must run inside the Tokio runtime: the exporter's HTTP calls are spawned on it.
pub fn init(format: LogFormat, otel_endpoint: Option<&str>) -> Telemetry {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=info,aws=warn,hyper=warn"));
    let provider = otel_endpoint.and_then(|endpoint| match tracer_provider(endpoint) {
        Ok(provider) => Some(provider),
        Err(err) => {
            eprintln!("tenantry: traces are off: the OTLP exporter failed to start: {err}");
            None
        }
    });
    TRACES_ON.store(provider.is_some(), Ordering::Relaxed);
    let _ = match &provider {
        // Logs alone: one global filter, so callsites it rejects are cached as
        // "never" and cost nothing, and no per-layer bookkeeping runs on every
        // span entry and exit (measured: ~20 % of a cached project list).
        None => tracing_subscriber::registry()
            .with(filter)
            .with(log_layer(format))
            .try_init(),
        Some(provider) => {
            let traces = tracing_opentelemetry::layer()
                .with_tracer(provider.tracer("tenantry"))
                // Nothing here reads the OpenTelemetry context outside `tracing`, and
                // activating it on every span entry (a thread-local guard stack, popped
                // out of order by interleaved async tasks) lost request spans.
                .with_context_activation(false)
                .with_tracked_inactivity(false)
                .with_threads(false)
                .with_filter(AskEveryTime(filter_fn(exported)));
            tracing_subscriber::registry()
                // A per-layer filter, so the trace layer can see the debug-level
                // database spans that the log leaves out.
                .with(log_layer(format).with_filter(AskEveryTime(filter)))
                .with(traces)
                .try_init()
        }
    };
    Telemetry { provider }
}

fn log_layer<S>(format: LogFormat) -> Box<dyn Layer<S> + Send + Sync>
where
    S: Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    log_layer_to(format, std::io::stdout)
}

/// The log layer writing to `writer` (stdout in the server, a buffer in tests).
fn log_layer_to<S, W>(format: LogFormat, writer: W) -> Box<dyn Layer<S> + Send + Sync>
where
    S: Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    W: for<'w> fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    match format {
        LogFormat::Json => fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .fmt_fields(SpanJsonFields)
            .with_writer(writer)
            .boxed(),
        LogFormat::Pretty => fmt::layer().compact().with_writer(writer).boxed(),
    }
}

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
            *stored = append_json_fields(std::mem::take(stored), &added)?;
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

/// `current` and `added` are JSON objects; the result has the fields of both,
/// `added` winning. Appends when no key of `added` is in `current` (the usual
/// case: a field declared empty, recorded once), else merges by parsing.
fn append_json_fields(current: String, added: &str) -> Result<String, std::fmt::Error> {
    let new: serde_json::Map<String, serde_json::Value> = serde_json::from_str(added).map_err(|_| std::fmt::Error)?;
    if new.is_empty() {
        return Ok(current);
    }
    let (Some(head), Some(tail)) = (current.strip_suffix('}'), added.strip_prefix('{')) else {
        return Ok(added.to_owned());
    };
    let key_present = |k: &String| current.contains(&format!("{}:", serde_json::Value::from(k.as_str())));
    if !new.keys().any(key_present) {
        let separator = if head.trim_end() == "{" { "" } else { "," };
        return Ok(format!("{head}{separator}{tail}"));
    }
    let mut merged: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&current).map_err(|_| std::fmt::Error)?;
    merged.extend(new);
    serde_json::to_string(&merged).map_err(|_| std::fmt::Error)
}

/// What goes to the collector: our own spans (requests at info, database
/// transactions at debug) and warnings or errors as span events.
fn exported(meta: &Metadata<'_>) -> bool {
    if meta.is_span() {
        meta.target().starts_with("tenantry") && *meta.level() <= Level::DEBUG
    } else {
        *meta.level() <= Level::WARN
    }
}

/// A per-layer filter that is asked about every span and event it accepts,
/// instead of letting the callsite cache `Interest::always`.
///
/// tracing-subscriber hands each per-layer filter's verdict from `enabled` to
/// `on_new_span`/`on_event` through a thread-local bit set. A callsite cached as
/// "always" skips `enabled`, so its span is judged by whatever the previous
/// `enabled` call on that thread left there: after sqlx's query logger asked
/// about a disabled callsite, the next request span was dropped from the trace
/// layer and its database spans were exported as roots (tokio-rs/tracing#2519,
/// fix proposed in #3572). "Sometimes" makes the macros call `enabled` each
/// time, which refreshes the bits; the filter itself is unchanged.
struct AskEveryTime<F>(F);

impl<S: Subscriber, F: Filter<S>> Filter<S> for AskEveryTime<F> {
    fn enabled(&self, meta: &Metadata<'_>, cx: &Context<'_, S>) -> bool {
        self.0.enabled(meta, cx)
    }
    fn callsite_enabled(&self, meta: &'static Metadata<'static>) -> Interest {
        let interest = self.0.callsite_enabled(meta);
        if interest.is_always() {
            Interest::sometimes()
        } else {
            interest
        }
    }
    fn event_enabled(&self, event: &tracing::Event<'_>, cx: &Context<'_, S>) -> bool {
        self.0.event_enabled(event, cx)
    }
    fn max_level_hint(&self) -> Option<LevelFilter> {
        self.0.max_level_hint()
    }
    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, cx: Context<'_, S>) {
        self.0.on_new_span(attrs, id, cx)
    }
    fn on_record(&self, id: &span::Id, values: &span::Record<'_>, cx: Context<'_, S>) {
        self.0.on_record(id, values, cx)
    }
    fn on_enter(&self, id: &span::Id, cx: Context<'_, S>) {
        self.0.on_enter(id, cx)
    }
    fn on_exit(&self, id: &span::Id, cx: Context<'_, S>) {
        self.0.on_exit(id, cx)
    }
    fn on_close(&self, id: span::Id, cx: Context<'_, S>) {
        self.0.on_close(id, cx)
    }
}

fn tracer_provider(endpoint: &str) -> anyhow::Result<SdkTracerProvider> {
    let client = RuntimeClient {
        client: reqwest::Client::builder().timeout(Duration::from_secs(10)).build()?,
        runtime: tokio::runtime::Handle::try_current()?,
    };
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_http_client(client)
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(format!("{}/v1/traces", endpoint.trim_end_matches('/')))
        .build()?;
    // OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES are read by the SDK itself.
    let mut resource = Resource::builder();
    if std::env::var_os("OTEL_SERVICE_NAME").is_none() {
        resource = resource.with_service_name("tenantry");
    }
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource.build())
        .build())
}

/// The exporter's HTTP client: the batch processor runs on its own thread with
/// no Tokio reactor, so each request is spawned on the server's runtime (and the
/// reqwest 0.12 already in the tree serves it).
#[derive(Debug)]
struct RuntimeClient {
    client: reqwest::Client,
    runtime: tokio::runtime::Handle,
}

#[async_trait::async_trait]
impl HttpClient for RuntimeClient {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let (parts, body) = request.into_parts();
        let request = self
            .client
            .request(parts.method, parts.uri.to_string())
            .headers(parts.headers)
            .body(body);
        let sent = self
            .runtime
            .spawn(async move {
                let response = request.send().await?;
                let (status, headers) = (response.status(), response.headers().clone());
                Ok::<_, reqwest::Error>((status, headers, response.bytes().await?))
            })
            .await?;
        // The SDK drops a batch that failed without a word (its own logging is not
        // compiled in): say so once per failed batch.
        let (status, headers, body) = sent.inspect_err(|e| tracing::warn!(error = %e, "exporting traces failed"))?;
        if !status.is_success() {
            tracing::warn!(%status, "the trace collector refused a batch");
        }
        let mut response = Response::new(body);
        *response.status_mut() = status;
        *response.headers_mut() = headers;
        Ok(response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_span_fields_are_appended_or_merged_into_one_json_object() {
        let join = |current: &str, added: &str| append_json_fields(current.to_owned(), added).unwrap();
        let parsed = |s: &str| serde_json::from_str::<serde_json::Value>(s).unwrap();
        // Recorded once into a span that had other fields: appended, still JSON.
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
