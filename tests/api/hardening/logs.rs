//! Log forging: text from the request (here the unauthenticated SES webhook's
//! `TopicArn` and `MessageId`) is logged escaped, so a newline in it cannot start
//! a fake line in the human-readable log format.

use std::sync::{Arc, Mutex};

use reqwest::StatusCode;
use serde_json::json;
use tracing_subscriber::fmt::MakeWriter;

use crate::helpers::{Resp, TestApp};

/// Everything the test's subscriber wrote.
#[derive(Clone, Default)]
pub struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// Captures this thread's INFO+ events in the server's human-readable format
/// (`LOG_FORMAT=pretty`) until the guard drops. `#[tokio::test]` runs the app's
/// tasks on the test's own thread, so the server's events land here too.
pub fn capture_logs() -> (Captured, tracing::subscriber::DefaultGuard) {
    let out = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .compact()
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .with_writer(out.clone())
        .finish();
    (out, tracing::subscriber::set_default(subscriber))
}

#[tokio::test]
async fn a_newline_in_an_unauthenticated_webhook_field_does_not_forge_a_log_line() {
    let (logs, _guard) = capture_logs();
    let app = TestApp::spawn().await;
    let forged = "FORGED INFO tenantry: super admin signed in ip=10.0.0.1";
    let body = json!({
        "Type": "Notification",
        "MessageId": format!("m-1\n{forged}"),
        "TopicArn": format!("arn:aws:sns:eu-central-1:123456789012:x\r\n{forged}"),
        "Message": "{}",
        "Timestamp": "2026-11-27T10:00:00.000Z",
        "SignatureVersion": "1",
        "Signature": "AAAA",
        "SigningCertURL": "https://evil.example.com/cert.pem",
    });
    let r = app
        .client
        .post(app.url("/api/v1/webhooks/ses"))
        .header("content-type", "text/plain; charset=UTF-8")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    Resp::from(r).await.assert_problem(StatusCode::FORBIDDEN);

    let text = logs.text();
    assert!(text.contains("SNS delivery refused"), "the refusal is logged:\n{text}");
    for line in text.lines() {
        assert!(!line.trim_start().starts_with("FORGED"), "a forged log line:\n{text}");
    }
    assert_eq!(
        text.matches('\r').count(),
        0,
        "a raw carriage return reached the log:\n{text}"
    );
    // The text is still there, escaped, on the refusal's own line.
    let refusal = text.lines().find(|l| l.contains("SNS delivery refused")).unwrap();
    assert!(
        refusal.contains(r"x\r\nFORGED") && refusal.contains(r"m-1\nFORGED"),
        "{refusal}"
    );
}
