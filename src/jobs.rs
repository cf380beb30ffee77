//! Every background task of `serve`, started here and nowhere else: the email
//! outbox worker, the webhook delivery worker, the expired-role-assignment sweeper and the scheduled
//! maintenance cleanup. Each one watches the stop channel and ends on shutdown.
//!
//! What a task does lives in its feature (`email::worker`, `rbac::sweeper`,
//! `admin::maintenance`); this file decides which run, and with which handles.
//! It is the only caller of [`Db::system_job`] (`src/layout_tests/` checks):
//! each job gets its cross-tenant [`PlatformAccess`] from one of the functions
//! below, which tests call too to run one pass of a job.

use tokio::{sync::watch, task::JoinHandle};

use crate::{
    app::AppState,
    db::{Db, PlatformAccess},
};

/// The email outbox worker's access (`email::worker`).
pub fn email_outbox(db: &Db) -> PlatformAccess {
    db.system_job("email outbox")
}

/// The webhook delivery worker's access (`integrations::webhooks`).
pub fn webhook_deliveries(db: &Db) -> PlatformAccess {
    db.system_job("webhook_deliveries")
}

/// The expired-role-assignment sweeper's access (`rbac::sweeper`).
pub fn role_sweeper(db: &Db) -> PlatformAccess {
    db.system_job("role assignment sweeper")
}

/// The scheduled maintenance cleanup's access (`admin::maintenance`).
pub fn maintenance(db: &Db) -> PlatformAccess {
    db.system_job("scheduled maintenance")
}

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
            email_outbox(&state.db),
            state.email.clone(),
            rx.clone(),
        )));
    }
    let webhooks =
        crate::integrations::webhooks::deliverer(&state.config, webhook_deliveries(&state.db), state.secrets.clone());
    tasks.push(tokio::spawn(webhooks.run(rx.clone())));
    tasks.push(tokio::spawn(crate::rbac::sweeper::run(
        role_sweeper(&state.db),
        rx.clone(),
    )));
    let interval = state.config.maintenance_interval;
    if !interval.is_zero() {
        tasks.push(tokio::spawn(crate::admin::maintenance::run(
            state.clone(),
            maintenance(&state.db),
            interval,
            rx.clone(),
        )));
    }
    drop(rx);
    Background { stop, tasks }
}
