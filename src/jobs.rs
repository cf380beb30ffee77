//! Every background task of `serve`, started here and nowhere else: the email
//! outbox worker, the webhook delivery worker, the expired-role-assignment sweeper and the scheduled
//! maintenance cleanup. Each one watches the stop channel and ends on shutdown.
//!
//! What a task does lives in its feature (`email::worker`, `rbac::sweeper`,
//! `admin::maintenance`); this file decides which run, and with which handles.

use tokio::{sync::watch, task::JoinHandle};

use crate::app::AppState;

/// The running background tasks; [`shutdown`](Self::shutdown) stops them.
pub struct Background {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Background {
    /// Signals every task to stop and waits for each to finish.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

/// Starts the background tasks the configuration enables.
pub fn spawn(state: &AppState) -> Background {
    let (stop, rx) = watch::channel(false);
    let mut tasks = Vec::new();
    if state.config.email_worker_enabled {
        tasks.push(tokio::spawn(crate::email::worker::run(
            state.db.clone(),
            state.email.clone(),
            rx.clone(),
        )));
    }
    let webhooks = crate::integrations::webhooks::deliverer(&state.config, state.db.clone(), state.secrets.clone());
    tasks.push(tokio::spawn(webhooks.run(rx.clone())));
    tasks.push(tokio::spawn(crate::rbac::sweeper::run(state.clone(), rx.clone())));
    let interval = state.config.maintenance_interval;
    if !interval.is_zero() {
        tasks.push(tokio::spawn(crate::admin::maintenance::run(
            state.clone(),
            interval,
            rx.clone(),
        )));
    }
    drop(rx);
    Background { stop, tasks }
}
