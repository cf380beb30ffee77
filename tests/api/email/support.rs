//! Local stand-ins for the email tests: an SMTP sink, an SES v2 endpoint that
//! can be told to fail, and an SNS signer whose self-signed certificate (made
//! with the `openssl` CLI) is served over HTTP on loopback.

use std::{
    net::SocketAddr,
    path::PathBuf,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
};

use axum::{Json, Router, extract::State, http::StatusCode, response::IntoResponse, routing::get, routing::post};
use base64::Engine;
use serde_json::{Value, json};
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::TcpListener,
};

use crate::helpers::TestConfig;

/// One message as the sink received it.
#[derive(Debug, Clone)]
pub struct SunkMessage {
    pub recipients: Vec<String>,
    pub data: String,
}

/// A minimal SMTP server: accepts everything while `up`, answers 421 otherwise.
#[derive(Clone)]
pub struct SmtpSink {
    pub port: u16,
    pub messages: Arc<Mutex<Vec<SunkMessage>>>,
    up: Arc<AtomicBool>,
}

impl SmtpSink {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let sink = SmtpSink {
            port: listener.local_addr().unwrap().port(),
            messages: Arc::default(),
            up: Arc::new(AtomicBool::new(true)),
        };
        let s = sink.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(s.clone().session(stream));
            }
        });
        sink
    }

    /// Test configuration that sends mail through this sink in plain SMTP.
    pub fn config(&self) -> TestConfig {
        TestConfig::default()
            .set("EMAIL_PROVIDER", "smtp")
            .set("SMTP_HOST", "127.0.0.1")
            .set("SMTP_PORT", self.port)
            .set("SMTP_TLS", "none")
    }

    pub fn set_up(&self, up: bool) {
        self.up.store(up, Ordering::SeqCst);
    }

    pub fn received(&self) -> Vec<SunkMessage> {
        self.messages.lock().unwrap().clone()
    }

    async fn session(self, stream: tokio::net::TcpStream) {
        let (read, mut write) = stream.into_split();
        let mut lines = BufReader::new(read).lines();
        let greeting = if self.up.load(Ordering::SeqCst) {
            "220 sink ESMTP\r\n"
        } else {
            "421 sink down\r\n"
        };
        if write.write_all(greeting.as_bytes()).await.is_err() || greeting.starts_with("421") {
            return;
        }
        let mut recipients = Vec::new();
        while let Ok(Some(line)) = lines.next_line().await {
            if !self.up.load(Ordering::SeqCst) {
                let _ = write.write_all(b"421 sink down\r\n").await;
                return;
            }
            let upper = line.to_ascii_uppercase();
            let reply: &[u8] = if upper.starts_with("EHLO") || upper.starts_with("HELO") {
                b"250-sink\r\n250 8BITMIME\r\n"
            } else if upper.starts_with("MAIL FROM") {
                recipients.clear();
                b"250 OK\r\n"
            } else if upper.starts_with("RCPT TO") {
                let addr = line[8..]
                    .trim()
                    .trim_start_matches('<')
                    .trim_end_matches('>')
                    .to_string();
                recipients.push(addr);
                b"250 OK\r\n"
            } else if upper == "DATA" {
                write.write_all(b"354 go ahead\r\n").await.unwrap();
                let mut data = String::new();
                while let Ok(Some(l)) = lines.next_line().await {
                    if l == "." {
                        break;
                    }
                    data.push_str(l.strip_prefix('.').unwrap_or(&l));
                    data.push('\n');
                }
                self.messages.lock().unwrap().push(SunkMessage {
                    recipients: std::mem::take(&mut recipients),
                    data,
                });
                b"250 queued\r\n"
            } else if upper == "QUIT" {
                let _ = write.write_all(b"221 bye\r\n").await;
                return;
            } else {
                b"250 OK\r\n"
            };
            if write.write_all(reply).await.is_err() {
                return;
            }
        }
    }
}

/// An SES v2 `SendEmail` endpoint that answers 500 while failing.
#[derive(Clone)]
pub struct FakeSes {
    pub url: String,
    pub sent: Arc<Mutex<Vec<Value>>>,
    pub requests: Arc<AtomicUsize>,
    failing: Arc<AtomicBool>,
}

impl FakeSes {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let ses = FakeSes {
            url: format!("http://{}", listener.local_addr().unwrap()),
            sent: Arc::default(),
            requests: Arc::default(),
            failing: Arc::default(),
        };
        let app = Router::new()
            .route("/v2/email/outbound-emails", post(send_email))
            .with_state(ses.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        ses
    }

    pub fn set_failing(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }
}

async fn send_email(State(ses): State<FakeSes>, Json(body): Json<Value>) -> impl IntoResponse {
    ses.requests.fetch_add(1, Ordering::SeqCst);
    if ses.failing.load(Ordering::SeqCst) {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({"message": "internal failure"})),
        );
    }
    let mut sent = ses.sent.lock().unwrap();
    sent.push(body);
    (
        StatusCode::OK,
        Json(json!({"MessageId": format!("ses-{}", sent.len())})),
    )
}

/// The topic the tests' SES publishes to (configure it in `SNS_TOPIC_ARNS`).
pub const SNS_TOPIC: &str = "arn:aws:sns:eu-central-1:123456789012:ses-events";

/// Signs SNS messages like AWS does, with a test key whose certificate it serves.
pub struct SnsSigner {
    dir: tempfile::TempDir,
    /// Serves `/cert.pem` and records visits to `/confirm`.
    pub base: String,
    pub confirmations: Arc<AtomicUsize>,
}

fn openssl(args: &[&str], input: Option<&[u8]>) -> Vec<u8> {
    use std::io::Write;
    let mut child = std::process::Command::new("openssl")
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the openssl CLI is installed");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.unwrap_or_default())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

impl SnsSigner {
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (key, cert) = (dir.path().join("key.pem"), dir.path().join("cert.pem"));
        let (k, c) = (key.display().to_string(), cert.display().to_string());
        tokio::task::spawn_blocking(move || {
            openssl(
                &[
                    "req",
                    "-x509",
                    "-newkey",
                    "rsa:2048",
                    "-nodes",
                    "-keyout",
                    &k,
                    "-out",
                    &c,
                    "-days",
                    "2",
                    "-subj",
                    "/CN=sns.test",
                ],
                None,
            )
        })
        .await
        .unwrap();
        let pem = std::fs::read_to_string(&cert).unwrap();
        let confirmations = Arc::new(AtomicUsize::new(0));
        let visits = confirmations.clone();
        let app = Router::new().route("/cert.pem", get(move || async move { pem })).route(
            "/confirm",
            get(move || async move {
                visits.fetch_add(1, Ordering::SeqCst);
                "<ConfirmSubscriptionResponse/>"
            }),
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        SnsSigner {
            dir,
            base: format!("http://{addr}/"),
            confirmations,
        }
    }

    fn key_path(&self) -> PathBuf {
        self.dir.path().join("key.pem")
    }

    /// A signed SNS delivery of `kind` carrying `message` (SignatureVersion `version`)
    /// on [`SNS_TOPIC`].
    pub fn signed(&self, kind: &str, message: &str, version: &str) -> Value {
        self.signed_on(SNS_TOPIC, kind, message, version)
    }

    /// A signed SNS delivery from `topic` (any AWS account can sign its own).
    pub fn signed_on(&self, topic: &str, kind: &str, message: &str, version: &str) -> Value {
        let mut m = json!({
            "Type": kind,
            "MessageId": uuid::Uuid::new_v4().to_string(),
            "TopicArn": topic,
            "Message": message,
            "Timestamp": "2026-11-27T10:00:00.000Z",
            "SignatureVersion": version,
            "SigningCertURL": format!("{}cert.pem", self.base),
        });
        if kind == "Notification" {
            m["Subject"] = json!("Amazon SES Email Event Notification");
            m["UnsubscribeURL"] = json!(format!("{}unsubscribe", self.base));
        } else {
            m["Token"] = json!("subscription-token");
            m["SubscribeURL"] = json!(format!("{}confirm", self.base));
        }
        let digest = if version == "1" { "-sha1" } else { "-sha256" };
        let key = self.key_path().display().to_string();
        let sig = openssl(&["dgst", digest, "-sign", &key], Some(canonical(&m).as_bytes()));
        m["Signature"] = json!(base64::engine::general_purpose::STANDARD.encode(sig));
        m
    }
}

/// The string AWS signs, per the SNS documentation (written independently of
/// the server's implementation on purpose).
fn canonical(m: &Value) -> String {
    let names: &[&str] = if m["Type"] == "Notification" {
        &["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
    } else {
        &[
            "Message",
            "MessageId",
            "SubscribeURL",
            "Timestamp",
            "Token",
            "TopicArn",
            "Type",
        ]
    };
    names
        .iter()
        .filter_map(|n| m[*n].as_str().map(|v| format!("{n}\n{v}\n")))
        .collect()
}

/// A permanent-bounce SES event for `email`, as SNS carries it in `Message`.
pub fn bounce_event(email: &str) -> String {
    json!({
        "notificationType": "Bounce",
        "bounce": {"bounceType": "Permanent", "bounceSubType": "General", "feedbackId": "fb-1",
            "timestamp": "2026-11-27T09:59:00.000Z",
            "bouncedRecipients": [{"emailAddress": email, "status": "5.1.1", "diagnosticCode": "smtp; 550 5.1.1 no such user"}]},
        "mail": {"messageId": "ses-message-1", "source": "no-reply@tenantry.test"}
    })
    .to_string()
}

/// A complaint event (configuration-set event publishing shape).
pub fn complaint_event(email: &str) -> String {
    json!({
        "eventType": "Complaint",
        "complaint": {"complainedRecipients": [{"emailAddress": email}], "complaintFeedbackType": "abuse",
            "feedbackId": "fb-2", "timestamp": "2026-11-27T09:59:00.000Z"},
        "mail": {"messageId": "ses-message-2"}
    })
    .to_string()
}
