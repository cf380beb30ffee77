//! Logging: JSON in production (`LOG_FORMAT=json`), human-readable otherwise.
//! Traces: OpenTelemetry over OTLP/HTTP (protobuf) when `OTEL_EXPORTER_OTLP_ENDPOINT`
//! is set; otherwise no tracing layer is installed and the span callsites only
//! the log filter wants (the request span) are ever built.

use std::{
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
    filter::{LevelFilter, Targets, filter_fn},
    fmt,
    layer::{Context, Filter},
    prelude::*,
};

use crate::config::LogFormat;

mod json_fields;

pub use json_fields::SpanJsonFields;

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
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
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
        None => {
            let (targets, filter) = match static_filter() {
                Some(targets) => (Some(targets), None),
                None => (None, Some(filter)),
            };
            tracing_subscriber::registry()
                .with(targets)
                .with(filter)
                .with(log_layer(format))
                .try_init()
        }
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

/// The log filter when `RUST_LOG` is unset or unparsable.
const DEFAULT_FILTER: &str = "info,sqlx=warn,tower_http=info,aws=warn,hyper=warn";

/// `RUST_LOG` (or the default) as a [`Targets`] filter when it has only
/// targets and levels, the usual case. It decides once per callsite, where an
/// `EnvFilter` also takes a shared lock on every span's creation, entry, exit,
/// record and close, to look for span directives it does not have (measured:
/// a few µs of a cached read's CPU, the lock's cache line bouncing between the
/// workers). Directives that name spans or fields still get the `EnvFilter`.
fn static_filter() -> Option<Targets> {
    static_filter_for(std::env::var("RUST_LOG").ok().as_deref())
}

fn static_filter_for(rust_log: Option<&str>) -> Option<Targets> {
    match rust_log.filter(|spec| EnvFilter::try_new(spec).is_ok()) {
        // Span and field directives are written in brackets; `Targets` would
        // misread them as targets.
        Some(spec) if spec.contains('[') => None,
        Some(spec) => spec.parse().ok(),
        // Unset or unparsable: what `init` falls back to as well.
        None => Some(DEFAULT_FILTER.parse().expect("the default filter is static")),
    }
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
    use tracing::level_filters::LevelFilter;

    #[test]
    fn static_log_directives_take_the_lock_free_filter_and_span_directives_keep_env_filter() {
        let default = static_filter_for(None).expect("the default is static");
        assert!(default.would_enable("tenantry::db", &Level::INFO));
        assert!(!default.would_enable("sqlx::query", &Level::INFO), "sqlx=warn");
        assert!(default.would_enable("sqlx::query", &Level::WARN));

        let custom = static_filter_for(Some("warn,tenantry=debug")).expect("static");
        assert!(custom.would_enable("tenantry::auth", &Level::DEBUG));
        assert!(!custom.would_enable("hyper", &Level::INFO));
        assert_eq!(
            static_filter_for(Some("off")).map(|t| t.default_level()),
            Some(Some(LevelFilter::OFF))
        );

        assert!(
            static_filter_for(Some("[request{tenant_id}]=debug")).is_none(),
            "a span directive"
        );
        assert!(
            static_filter_for(Some("tenantry[{user_id}]=trace")).is_none(),
            "a field directive"
        );
        let unparsable = static_filter_for(Some("=garbage=")).expect("the default, as EnvFilter falls back");
        assert!(!unparsable.would_enable("sqlx::query", &Level::INFO));
    }
}
