//! A local webhook receiver, and a Standard Webhooks 1.0 verifier written from
//! the specification (independent of the server's signing code).

use std::{
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
};

use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::post,
};
use base64::{Engine, engine::general_purpose::STANDARD};
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

/// One request the receiver got.
#[derive(Clone, Debug)]
pub struct Received {
    pub id: String,
    pub timestamp: String,
    pub signature: String,
    pub body: Vec<u8>,
}

impl Received {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// How the receiver answers.
#[derive(Clone)]
pub enum Behaviour {
    /// 500 for the first `n` requests, then 204.
    FailFirst(usize),
    /// 302 to this URL, always.
    Redirect(String),
}

#[derive(Clone)]
struct Shared {
    behaviour: Behaviour,
    hits: Arc<AtomicUsize>,
    log: Arc<Mutex<Vec<Received>>>,
    accepted: Arc<Mutex<Vec<Received>>>,
}

pub struct Receiver {
    pub url: String,
    shared: Shared,
}

impl Receiver {
    pub async fn start(behaviour: Behaviour) -> Self {
        let shared = Shared {
            behaviour,
            hits: Arc::default(),
            log: Arc::default(),
            accepted: Arc::default(),
        };
        let app = Router::new().route("/hook", post(receive)).with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self {
            url: format!("http://{addr}/hook"),
            shared,
        }
    }

    /// Every request, including failed ones.
    pub fn hits(&self) -> usize {
        self.shared.hits.load(Ordering::SeqCst)
    }

    /// Requests answered with success, in arrival order.
    pub fn accepted(&self) -> Vec<Received> {
        self.shared.accepted.lock().unwrap().clone()
    }
}

async fn receive(State(s): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let n = s.hits.fetch_add(1, Ordering::SeqCst);
    let h = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let got = Received {
        id: h("webhook-id"),
        timestamp: h("webhook-timestamp"),
        signature: h("webhook-signature"),
        body: body.to_vec(),
    };
    s.log.lock().unwrap().push(got.clone());
    match &s.behaviour {
        Behaviour::FailFirst(k) if n < *k => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        Behaviour::FailFirst(_) => {
            s.accepted.lock().unwrap().push(got);
            StatusCode::NO_CONTENT.into_response()
        }
        Behaviour::Redirect(to) => (StatusCode::FOUND, [(header::LOCATION, to.clone())]).into_response(),
    }
}

/// Standard Webhooks verification: the key is the base64 after `whsec_`; the
/// signed content is `{id}.{timestamp}.{body}`; any `v1,` signature in the
/// space-separated header may match (constant-time); the timestamp must be
/// within five minutes of now.
pub fn verify(secret: &str, msg: &Received) -> bool {
    let Some(key) = secret.strip_prefix("whsec_").and_then(|k| STANDARD.decode(k).ok()) else {
        return false;
    };
    let Ok(ts) = msg.timestamp.parse::<i64>() else {
        return false;
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    if (now - ts).abs() > 300 {
        return false;
    }
    let mut content = format!("{}.{}.", msg.id, msg.timestamp).into_bytes();
    content.extend_from_slice(&msg.body);
    msg.signature.split(' ').any(|sig| {
        let Some(b64) = sig.strip_prefix("v1,") else {
            return false;
        };
        let Ok(expected) = STANDARD.decode(b64) else {
            return false;
        };
        let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
        mac.update(&content);
        mac.verify_slice(&expected).is_ok()
    })
}
