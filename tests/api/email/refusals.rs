//! SES refusals: SES's own (configuration, credentials, unverified sender,
//! paused account) fall back to SMTP at once; the recipient's (invalid or
//! suppressed address) do not, and the message is dead. The health page names
//! the provider path and shows no error text.

use std::sync::{Arc, Mutex};

use axum::{
    Json, Router,
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode},
    routing::post,
};
use serde_json::{Value, json};
use tenantry::{
    email::{EmailTemplate, drain_once},
    jobs::email_outbox,
};
use tokio::net::TcpListener;

use super::{queue, row, support::SmtpSink, tenant};
use crate::helpers::TestApp;

/// An SES v2 endpoint that refuses every send with one configured error.
#[derive(Clone)]
struct RefusingSes {
    url: String,
    /// (HTTP status, SES error code, message)
    answer: Arc<Mutex<(u16, &'static str, &'static str)>>,
}

impl RefusingSes {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let ses = RefusingSes {
            url: format!("http://{}", listener.local_addr().unwrap()),
            answer: Arc::new(Mutex::new((500, "InternalFailure", ""))),
        };
        let app = Router::new()
            .route("/v2/email/outbound-emails", post(refuse))
            .with_state(ses.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        ses
    }

    fn answer(&self, status: u16, code: &'static str, message: &'static str) {
        *self.answer.lock().unwrap() = (status, code, message);
    }
}

async fn refuse(State(ses): State<RefusingSes>, Json(_): Json<Value>) -> (StatusCode, HeaderMap, Json<Value>) {
    let (status, code, message) = *ses.answer.lock().unwrap();
    let mut headers = HeaderMap::new();
    headers.insert("x-amzn-errortype", HeaderValue::from_static(code));
    (
        StatusCode::from_u16(status).unwrap(),
        headers,
        Json(json!({"__type": code, "message": message})),
    )
}

#[tokio::test]
async fn ses_refusing_for_its_own_reasons_falls_back_to_smtp_but_a_bad_recipient_does_not() {
    let (ses, smtp) = (RefusingSes::start().await, SmtpSink::start().await);
    let app = TestApp::spawn_with(
        smtp.config()
            .set("EMAIL_PROVIDER", "ses")
            .set("AWS_ENDPOINT_URL", &ses.url)
            .set("AWS_REGION", "eu-central-1")
            .set("AWS_ACCESS_KEY_ID", "test-access-key")
            .set("AWS_SECRET_ACCESS_KEY", "test-secret-key")
            .set("AWS_SES_FROM_EMAIL", "no-reply@tenantry.test"),
    )
    .await;
    let t = tenant(&app, "Acme").await;
    let mut db = app.db.superuser().await;

    let own_refusals = [
        (400, "SendingPausedException", "Sending is paused for this account."),
        (
            403,
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        ),
        (
            400,
            "MessageRejected",
            "Email address is not verified. The following identities failed the check in region EU-CENTRAL-1: no-reply@tenantry.test",
        ),
        (404, "NotFoundException", "Configuration set <tenantry> does not exist."),
    ];
    for (i, (status, code, message)) in own_refusals.into_iter().enumerate() {
        ses.answer(status, code, message);
        let to = format!("ok{i}@example.com");
        let id = queue(&app, t, &to, EmailTemplate::Welcome, json!({})).await;
        assert_eq!(
            drain_once(&email_outbox(&app.state.db), &app.state.email)
                .await
                .unwrap(),
            1
        );
        let r = row(&mut db, id).await;
        assert_eq!(
            (r.status.as_str(), r.provider.as_deref()),
            ("sent", Some("smtp")),
            "{code}: {:?}",
            r.last_error
        );
        assert_eq!(smtp.received().last().unwrap().recipients, [to]);
    }
    let sent_by_smtp = smtp.received().len();

    let recipient_refusals = [
        (400, "MessageRejected", "Address blacklisted."),
        (400, "BadRequestException", "Illegal address"),
    ];
    for (status, code, message) in recipient_refusals {
        ses.answer(status, code, message);
        let id = queue(&app, t, "gone@example.com", EmailTemplate::Welcome, json!({})).await;
        assert_eq!(
            drain_once(&email_outbox(&app.state.db), &app.state.email)
                .await
                .unwrap(),
            1
        );
        let r = row(&mut db, id).await;
        assert_eq!((r.status.as_str(), r.attempts), ("dead", 1), "{code}");
        assert!(r.last_error.unwrap().contains(code));
    }
    assert_eq!(
        smtp.received().len(),
        sent_by_smtp,
        "no fallback for the recipient's refusals"
    );

    let health = app.call(reqwest::Method::GET, "/health/detailed", None, None).await;
    let email = &health.body["checks"]["email"];
    assert_eq!(email["provider"], "ses+smtp", "{email}");
    let text = email.to_string();
    assert!(
        !text.contains("blacklisted") && !text.contains("Illegal") && !text.contains("Exception"),
        "status only, no error text: {text}"
    );
    // The details (when it last failed, and why) are for a super admin.
    let admin = app.super_admin_token().await;
    let full = app.get("/health/detailed", &admin).await.body;
    assert!(full["checks"]["email"]["last_failure_at"].is_string(), "{full}");
}
