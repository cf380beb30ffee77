//! The user's sessions (sign out one or all others) and activity.

use axum::{
    extract::{Path, Query, State},
    response::Response,
};
use serde::Serialize;
use serde_json::json;
use uuid::Uuid;

use super::{Done, Me, device, notice, when};
use crate::{
    app::AppState,
    audit::{self, AuditAction, AuditEvent},
    auth::{
        handlers::sessions,
        repo as auth_repo,
        session::{revoke_session, revoke_user_sessions},
    },
    console::{
        render::{self, Frame},
        session::{SESSION_COOKIE, clear_cookie, redirect_with},
    },
    http::ApiError,
    pagination::PageParams,
};

#[derive(Serialize)]
struct SessionItem {
    id: Uuid,
    device: String,
    ip: String,
    method: String,
    started: String,
    last_seen: String,
    current: bool,
}

#[derive(Serialize)]
struct SessionsView {
    frame: Frame,
    sessions: Vec<SessionItem>,
    notice: Option<&'static str>,
}

pub async fn sessions_page(me: Me, Query(done): Query<Done>) -> Response {
    let frame = me.frame("/account/sessions");
    let Me { authz, .. } = me;
    let (ctx, mut tx) = (authz.ctx, authz.tx);
    let rows = match auth_repo::live_sessions(&mut tx, ctx.user_id, ctx.session_id).await {
        Ok(rows) => rows,
        Err(e) => return render::api_error(e.into()),
    };
    let sessions = rows
        .into_iter()
        .map(|r| SessionItem {
            current: r.id == ctx.session_id,
            device: device(r.user_agent.as_deref()),
            ip: r.ip_address.unwrap_or_else(|| "unknown".into()),
            method: r.auth_method,
            started: when(r.created_at),
            last_seen: when(r.last_used_at),
            id: r.id,
        })
        .collect();
    render::ok(
        "sessions.html",
        SessionsView {
            frame,
            sessions,
            notice: notice(&done),
        },
    )
}

/// Signs out one of the user's own sessions (this one: a sign-out).
pub async fn end_session(State(state): State<AppState>, me: Me, Path(id): Path<Uuid>) -> Response {
    if id == me.authz.ctx.session_id {
        return match sessions::logout(me.authz).await {
            Ok(_) => redirect_with("/login?done=signed_out", [clear_cookie(&state, SESSION_COOKIE)]),
            Err(e) => render::api_error(e),
        };
    }
    let result = async {
        let (ctx, mut tx) = (me.authz.ctx, me.authz.tx);
        if auth_repo::find_own_session(&mut tx, id, ctx.user_id).await?.is_none() {
            return Err(ApiError::not_found("Session"));
        }
        if revoke_session(&mut tx, id, "signed_out_by_user").await? > 0 {
            let event = AuditEvent::new(AuditAction::SessionRevoked, "session", id)
                .new_values(json!({"reason": "signed_out_by_user"}));
            audit::record(&mut tx, ctx.tenant_id, &ctx.actor(), event).await?;
        }
        tx.commit().await?;
        Ok(())
    };
    match result.await {
        Ok(()) => crate::console::see_other("/account/sessions?done=session"),
        Err(e) => render::api_error(e),
    }
}

/// Signs out every other session of the user; this one stays.
pub async fn end_other_sessions(me: Me) -> Response {
    let result = async {
        let (ctx, mut tx) = (me.authz.ctx, me.authz.tx);
        let revoked = revoke_user_sessions(&mut tx, ctx.user_id, Some(ctx.session_id), "signed_out_by_user").await?;
        let event = AuditEvent::new(AuditAction::UserSessionsTerminated, "user", ctx.user_id)
            .new_values(json!({"sessions_revoked": revoked, "kept": ctx.session_id}));
        audit::record(&mut tx, ctx.tenant_id, &ctx.actor(), event).await?;
        tx.commit().await?;
        Ok::<_, ApiError>(())
    };
    match result.await {
        Ok(()) => crate::console::see_other("/account/sessions?done=others"),
        Err(e) => render::api_error(e),
    }
}

#[derive(Serialize)]
struct AttemptItem {
    when: String,
    success: bool,
    method: String,
    reason: String,
    ip: String,
    device: String,
}

#[derive(Serialize)]
struct EventItem {
    when: String,
    event: String,
    ip: String,
    device: String,
}

#[derive(Serialize)]
struct ActivityView {
    frame: Frame,
    attempts: Vec<AttemptItem>,
    events: Vec<EventItem>,
}

/// The user's last 25 sign-in attempts and security events.
pub async fn activity_page(me: Me) -> Response {
    let frame = me.frame("/account/activity");
    let (ctx, mut tx) = (me.authz.ctx, me.authz.tx);
    let page = PageParams { page: 1, page_size: 25 };
    let attempts = auth_repo::own_login_attempts(&mut tx, &ctx, &page).await;
    let events = auth_repo::own_security_events(&mut tx, &ctx, &page).await;
    let (attempts, events) = match (attempts, events) {
        (Ok(a), Ok(e)) => (a, e),
        (Err(e), _) | (_, Err(e)) => return render::api_error(e.into()),
    };
    let attempts = attempts
        .items
        .into_iter()
        .map(|a| AttemptItem {
            when: when(a.created_at),
            success: a.success,
            method: a.method,
            reason: a.reason.unwrap_or_default().replace('_', " "),
            ip: a.ip_address.unwrap_or_default(),
            device: device(a.user_agent.as_deref()),
        })
        .collect();
    let events = events
        .items
        .into_iter()
        .map(|e| EventItem {
            when: when(e.created_at),
            event: e.event_type.replace(['.', '_'], " "),
            ip: e.ip_address.unwrap_or_default(),
            device: device(e.user_agent.as_deref()),
        })
        .collect();
    render::ok(
        "activity.html",
        ActivityView {
            frame,
            attempts,
            events,
        },
    )
}
