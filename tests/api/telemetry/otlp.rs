//! The OTLP/HTTP receiver is a small axum app on a loopback port that keeps every
//! `POST /v1/traces` body; the bodies are decoded with the OTLP protobuf types.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{Router, body::Bytes, extract::State, routing::post};
use opentelemetry_proto::tonic::{
    collector::trace::v1::ExportTraceServiceRequest,
    common::v1::{AnyValue, KeyValue, any_value::Value},
    trace::v1::Span,
};
use prost::Message;
use reqwest::StatusCode;

use crate::{
    helpers::*,
    scale::{Instance, login},
};

type Received = Arc<Mutex<Vec<Bytes>>>;

/// Starts the receiver; returns its base URL and what it has received so far.
async fn receiver() -> (String, Received) {
    let received = Received::default();
    let app = Router::new()
        .route(
            "/v1/traces",
            post(|State(r): State<Received>, body: Bytes| async move {
                r.lock().unwrap().push(body);
                StatusCode::OK
            }),
        )
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (base, received)
}

fn spans(received: &Received) -> Vec<Span> {
    received
        .lock()
        .unwrap()
        .iter()
        .map(|body| ExportTraceServiceRequest::decode(body.clone()).expect("an OTLP protobuf body"))
        .flat_map(|request| request.resource_spans)
        .flat_map(|r| r.scope_spans)
        .flat_map(|s| s.spans)
        .collect()
}

fn attr<'a>(span: &'a Span, key: &str) -> Option<&'a Value> {
    span.attributes
        .iter()
        .find(|KeyValue { key: k, .. }| k == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|AnyValue { value }| value.as_ref())
}

fn text<'a>(span: &'a Span, key: &str) -> Option<&'a str> {
    match attr(span, key) {
        Some(Value::StringValue(s)) => Some(s),
        _ => None,
    }
}

fn int(span: &Span, key: &str) -> Option<i64> {
    match attr(span, key) {
        Some(Value::IntValue(i)) => Some(*i),
        _ => None,
    }
}

/// Waits until `find` picks a span out of what the receiver got.
async fn wait_for(received: &Received, what: &str, find: impl Fn(&Span) -> bool) -> Span {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(span) = spans(received).into_iter().find(|s| find(s)) {
            return span;
        }
        if Instant::now() > deadline {
            let names: Vec<String> = spans(received)
                .into_iter()
                .filter(|s| !s.name.starts_with("db."))
                .map(|s| format!("{} {:?}", s.name, s.attributes))
                .collect();
            panic!("no {what} among the spans received: {names:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every request's span arrives (none lost: tokio-rs/tracing#2519 dropped the
/// ones whose thread last asked about a disabled callsite; see
/// `telemetry::AskEveryTime`), with its route, tenant, user and status, and the
/// database transactions are its children.
#[tokio::test]
async fn requests_and_database_transactions_are_exported_over_otlp_http() {
    let app = TestApp::spawn().await;
    let t = app.seed_tenant("traced").await;
    let (collector, received) = receiver().await;
    let env = Instance::env(
        &app.db.url,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", collector.as_str()),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ],
    );
    let server = Instance::start("traced", &env, &["serve", "--no-migrate"]).await;
    let client = reqwest::Client::new();
    let tokens = login(&client, &server.base, t.email("user"), &t.slug).await;
    let access = tokens["access_token"].as_str().unwrap();

    // Each request several times, spread over the server's worker threads: every
    // one of them must arrive.
    let missing = uuid::Uuid::new_v4();
    for i in 0..12 {
        let r = client
            .get(server.url(&format!("/api/v1/projects?page_size={}", i + 1)))
            .bearer_auth(access)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        r.bytes().await.unwrap();
        let r = client
            .get(server.url(&format!("/api/v1/projects/{missing}")))
            .bearer_auth(access)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        r.bytes().await.unwrap();
        let r = client
            .post(server.url("/api/v1/projects"))
            .bearer_auth(access)
            .json(&serde_json::json!({"name": format!("Traced project {i}")}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        r.bytes().await.unwrap();
    }

    let tenant = t.id.to_string();
    let user = t.user_id("user").to_string();
    for (name, count) in [
        ("GET /api/v1/projects", 12),
        ("GET /api/v1/projects/{id}", 12),
        ("POST /api/v1/projects", 12),
    ] {
        let deadline = Instant::now() + Duration::from_secs(20);
        let arrived = loop {
            let arrived = spans(&received).into_iter().filter(|s| s.name == name).count();
            if arrived >= count || Instant::now() > deadline {
                break arrived;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert_eq!(arrived, count, "{name}: every request's span arrives");
    }
    for s in spans(&received).iter().filter(|s| s.name.contains("/api/v1/projects")) {
        assert_eq!(
            text(s, "tenant_id"),
            Some(tenant.as_str()),
            "{}: the token's tenant",
            s.name
        );
        assert_eq!(text(s, "user_id"), Some(user.as_str()), "{}: the token's user", s.name);
        assert!(int(s, "http.response.status_code").is_some(), "{}: its status", s.name);
    }
    let list = wait_for(&received, "GET /api/v1/projects span", |s| {
        s.name == "GET /api/v1/projects"
    })
    .await;
    assert_eq!(text(&list, "route"), Some("/api/v1/projects"));
    assert_eq!(
        text(&list, "tenant_id"),
        Some(tenant.as_str()),
        "the tenant of the token"
    );
    assert_eq!(int(&list, "http.response.status_code"), Some(200));
    assert!(list.parent_span_id.is_empty(), "a request span is a root");

    // The matched route, not the raw path: the id is not part of the span name.
    let by_id = wait_for(&received, "GET /api/v1/projects/{id} span", |s| {
        text(s, "route") == Some("/api/v1/projects/{id}")
    })
    .await;
    assert_eq!(by_id.name, "GET /api/v1/projects/{id}");
    assert_eq!(int(&by_id, "http.response.status_code"), Some(404));
    assert!(
        !format!("{by_id:?}").contains(&missing.to_string()),
        "no raw path in the span"
    );

    // The list ran as one tenant read (a single statement, its own implicit
    // transaction), a child of the request span.
    let lists: Vec<Span> = spans(&received)
        .into_iter()
        .filter(|s| s.name == "GET /api/v1/projects")
        .collect();
    // (The first list also opened a tenant transaction for the session check.)
    let read = wait_for(&received, "db.transaction span of a list's read", |s| {
        s.name == "db.transaction"
            && text(s, "kind") == Some("read")
            && lists.iter().any(|l| l.span_id == s.parent_span_id)
    })
    .await;
    let list = lists.iter().find(|l| l.span_id == read.parent_span_id).unwrap();
    assert_eq!(read.trace_id, list.trace_id);
    assert_eq!(text(&read, "tenant_id"), Some(tenant.as_str()));
    assert_eq!(text(&read, "db.system.name"), Some("postgresql"));

    // A write runs in a tenant transaction: BEGIN and COMMIT are its children.
    let create = wait_for(&received, "POST /api/v1/projects span", |s| {
        s.name == "POST /api/v1/projects"
    })
    .await;
    assert_eq!(int(&create, "http.response.status_code"), Some(201));
    let all = spans(&received);
    let txs: Vec<&Span> = all
        .iter()
        .filter(|c| c.name == "POST /api/v1/projects")
        .flat_map(|c| {
            all.iter()
                .filter(move |s| s.name == "db.transaction" && s.parent_span_id == c.span_id)
        })
        .collect();
    assert!(!txs.is_empty(), "a create runs in a transaction");
    for tx in txs {
        assert_eq!(text(tx, "kind"), Some("tenant"));
        assert_eq!(text(tx, "tenant_id"), Some(tenant.as_str()));
        let child = |name: &str| all.iter().find(|s| s.name == name && s.parent_span_id == tx.span_id);
        let begin = child("db.begin").expect("a db.begin child");
        assert!(begin.end_time_unix_nano >= begin.start_time_unix_nano);
        assert!(child("db.commit").is_some(), "a db.commit child");
    }
}
