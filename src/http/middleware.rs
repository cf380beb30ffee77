//! Cross-cutting HTTP behaviour: problem+json for every error, request ids in
//! error bodies, security headers and Prometheus metrics.

use std::{
    pin::Pin,
    sync::{
        Arc, OnceLock,
        atomic::{AtomicBool, Ordering},
    },
    task::{Context, Poll},
    time::Instant,
};

use axum::{
    body::{Body, to_bytes},
    extract::{MatchedPath, Request, State},
    http::{HeaderName, HeaderValue, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use futures::Stream;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use super::error::{ApiError, PROBLEM_JSON, problem_body, problem_response};

/// Turns every error response into problem+json and stamps its `request_id`.
/// Errors from axum itself (404, 405, timeouts, body limits) arrive here as plain
/// text; handler errors arrive as problems and only gain the request id.
pub async fn problem_details(req: Request, next: Next) -> Response {
    let request_id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let res = next.run(req).await;
    let status = res.status();
    if !(status.is_client_error() || status.is_server_error()) || is_html(&res) || is_scim(&res) {
        // Console pages render their own errors for people; SCIM clients get
        // RFC 7644 error bodies.
        return res;
    }
    let is_problem = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes() == PROBLEM_JSON.as_bytes());
    let (parts, body) = res.into_parts();
    let mut problem = if is_problem {
        match to_bytes(body, 64 * 1024)
            .await
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
        {
            Some(v) => v,
            None => problem_body(status, "error", status.canonical_reason().unwrap_or("Error")),
        }
    } else {
        let detail = match status {
            StatusCode::NOT_FOUND => "No such route",
            StatusCode::METHOD_NOT_ALLOWED => "Method not allowed on this route",
            StatusCode::PAYLOAD_TOO_LARGE => "Request body is too large",
            StatusCode::REQUEST_TIMEOUT => "The request took too long",
            StatusCode::UNSUPPORTED_MEDIA_TYPE => "Unsupported content type",
            StatusCode::INTERNAL_SERVER_ERROR => "An internal error occurred",
            _ => status.canonical_reason().unwrap_or("Error"),
        };
        let code = status
            .canonical_reason()
            .unwrap_or("error")
            .to_ascii_lowercase()
            .replace(' ', "-");
        problem_body(status, &code, detail)
    };
    problem["request_id"] = request_id.map(Into::into).unwrap_or(serde_json::Value::Null);
    let mut out = problem_response(status, problem);
    for (name, value) in parts.headers.iter() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            out.headers_mut().insert(name.clone(), value.clone());
        }
    }
    out
}

fn is_scim(res: &Response) -> bool {
    res.headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/scim+json"))
}

fn is_html(res: &Response) -> bool {
    res.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"))
}

/// Keeps connections reusable when a handler answers without reading the request
/// body (401, 403, 404, a malformed path…). A body whose declared length fits the
/// JSON limit is read up front, so the server is never left with unread bytes.
/// Other bodies (uploads, chunked) stream to the handler; if it stops early the
/// response says `Connection: close`, since the server cannot reuse that
/// connection and a keep-alive client would otherwise send its next request into
/// a closing socket.
pub async fn settle_request_body(State(limit): State<usize>, req: Request, next: Next) -> Response {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let chunked = req.headers().contains_key(header::TRANSFER_ENCODING);
    match declared {
        Some(0) | None if !chunked => return next.run(req).await,
        Some(len) if len <= limit => {
            let (parts, body) = req.into_parts();
            return match to_bytes(body, len).await {
                Ok(bytes) => next.run(Request::from_parts(parts, Body::from(bytes))).await,
                Err(_) => {
                    ApiError::BadRequest("The request body ended before its declared length".into()).into_response()
                }
            };
        }
        _ => {}
    }
    let finished = Arc::new(AtomicBool::new(false));
    let (parts, body) = req.into_parts();
    let body = Body::from_stream(TrackEnd {
        inner: body.into_data_stream(),
        finished: finished.clone(),
    });
    let mut res = next.run(Request::from_parts(parts, body)).await;
    if !finished.load(Ordering::Acquire) {
        res.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    res
}

/// A body stream that records when it has been read to the end.
struct TrackEnd<S> {
    inner: S,
    finished: Arc<AtomicBool>,
}

impl<S: Stream + Unpin> Stream for TrackEnd<S> {
    type Item = S::Item;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        let poll = Pin::new(&mut self.inner).poll_next(cx);
        if let Poll::Ready(None) = poll {
            self.finished.store(true, Ordering::Release);
        }
        poll
    }
}

/// `/api/v1/users/` is `/api/v1/users`: clients that write the collection with a
/// trailing slash reach the same route. Only under `/api/`; Swagger UI lives at `/docs/`.
pub fn trim_trailing_slash(mut req: Request) -> Request {
    let path = req.uri().path();
    if !(path.starts_with("/api/") && path.ends_with('/')) {
        return req;
    }
    let trimmed = path.trim_end_matches('/');
    let path_and_query = match req.uri().query() {
        Some(q) => format!("{trimmed}?{q}"),
        None => trimmed.to_string(),
    };
    let mut parts = req.uri().clone().into_parts();
    if let Ok(pq) = path_and_query.parse() {
        parts.path_and_query = Some(pq);
        if let Ok(uri) = axum::http::Uri::from_parts(parts) {
            *req.uri_mut() = uri;
        }
    }
    req
}

/// Security headers on every response; CSP on HTML. A header the handler set
/// itself wins: a document download's `sandbox; default-src 'none'` must not be
/// replaced by the Swagger page's policy just because the document is HTML.
pub async fn security_headers(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    let is_html = h
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    let csp = if is_html {
        // Swagger UI needs its own inline bootstrap script and styles.
        "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; \
         img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    } else {
        "default-src 'none'; frame-ancestors 'none'"
    };
    for (name, value) in [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (HeaderName::from_static("cross-origin-opener-policy"), "same-origin"),
        (header::CONTENT_SECURITY_POLICY, csp),
        (header::CACHE_CONTROL, "no-store"),
    ] {
        h.entry(name).or_insert(HeaderValue::from_static(value));
    }
    res
}

/// HSTS on every response (configured with `HSTS=true`, i.e. served over HTTPS).
pub async fn hsts(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    res.headers_mut().insert(
        "strict-transport-security",
        HeaderValue::from_static("max-age=63072000; includeSubDomains"),
    );
    res
}

/// The process-wide Prometheus recorder (installed once, shared by every app
/// built in this process, e.g. by tests).
pub fn metrics_handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                metrics_exporter_prometheus::Matcher::Full("http_request_duration_seconds".into()),
                &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0],
            )
            .expect("valid buckets")
            .build_recorder();
        let handle = recorder.handle();
        let _ = metrics::set_global_recorder(recorder);
        // A recorder built this way keeps every histogram sample until something
        // drains it: /metrics does, but a deployment nobody scrapes would grow by
        // 8 bytes per request for ever (the soak's RSS slope). A plain thread, not
        // a task: the handle outlives any one runtime (tests build many).
        let upkeep = handle.clone();
        std::thread::Builder::new()
            .name(METRICS_UPKEEP_THREAD.into())
            .spawn(move || {
                loop {
                    std::thread::sleep(METRICS_UPKEEP_EVERY);
                    upkeep.run_upkeep();
                }
            })
            .expect("spawn the metrics upkeep thread");
        handle
    })
}

const METRICS_UPKEEP_THREAD: &str = "metrics-upkeep";
const METRICS_UPKEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// Request count and latency by method, matched route (low cardinality) and status.
pub async fn record_metrics(req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().as_str().to_owned();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".into());
    let res = next.run(req).await;
    let labels = [
        ("method", method),
        ("route", route),
        ("status", res.status().as_u16().to_string()),
    ];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!("http_request_duration_seconds", &labels).record(start.elapsed().as_secs_f64());
    res
}

/// Prometheus text exposition of the request counters and latencies.
#[utoipa::path(get, path = "/metrics", tag = "health",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain", body = String)))]
pub async fn render_metrics() -> Response {
    let mut res = Response::new(Body::from(metrics_handle().render()));
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Without the upkeep thread an unscraped server keeps every latency sample.
    #[test]
    fn histogram_samples_are_drained_without_a_scrape() {
        metrics_handle();
        let threads = || -> Vec<String> {
            std::fs::read_dir("/proc/self/task")
                .expect("procfs")
                .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
                .map(|name| name.trim().to_owned())
                .collect()
        };
        // A new thread names itself once it runs: give it a moment.
        for _ in 0..100 {
            if threads().iter().any(|n| n == METRICS_UPKEEP_THREAD) {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        panic!("no {METRICS_UPKEEP_THREAD} thread among {:?}", threads());
    }
}
