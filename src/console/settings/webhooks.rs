//! `/admin/webhooks`: the tenant's endpoints through the API's webhook
//! handlers: create (the signing secret shown once), an endpoint's page with
//! its delivery log (manual retry), edit, enable/disable, rotate the secret
//! (the new one shown once), a test ping, delete.

use axum::{
    body::Bytes,
    extract::{Path, Query, State},
    http::StatusCode,
    response::Response,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{CopyItem, Done, again, confirm_page, fixable, messages, notice, refused, secret_page};
use crate::{
    app::AppState,
    console::{
        account::when,
        render::{self, Frame},
        see_other,
        session::Console,
    },
    http::{
        ApiError,
        extract::{ApiJson, ApiPath, ApiQuery},
    },
    integrations::webhooks::{
        events::{WILDCARD, event_types},
        handlers as hooks,
        model::{DeliveryView, NewWebhook, WebhookChanges, WebhookView},
    },
    pagination::PageParams,
    rbac::perm,
};

type Admin = Console<perm::TenantManage>;

#[derive(Serialize)]
struct EndpointRow {
    id: Uuid,
    url: String,
    description: String,
    events: String,
    enabled: bool,
    disabled_reason: Option<String>,
    created: String,
}

impl From<WebhookView> for EndpointRow {
    fn from(w: WebhookView) -> Self {
        EndpointRow {
            id: w.id,
            url: w.url,
            description: w.description,
            events: w.event_types.join(", "),
            enabled: w.enabled,
            disabled_reason: w.disabled_reason,
            created: when(w.created_at),
        }
    }
}

fn all() -> PageParams {
    PageParams {
        page: 1,
        page_size: 100,
    }
}

#[derive(Serialize)]
struct ListView {
    frame: Frame,
    endpoints: Vec<EndpointRow>,
    notice: Option<&'static str>,
}

pub async fn list_page(me: Admin, Query(done): Query<Done>) -> Response {
    let frame = me.frame("/admin/webhooks");
    match hooks::list_webhooks(me.authz, ApiQuery(all())).await {
        Ok(ApiJson(page)) => render::ok(
            "settings_webhooks.html",
            ListView {
                frame,
                endpoints: page.items.into_iter().map(EndpointRow::from).collect(),
                notice: notice(&done),
            },
        ),
        Err(e) => render::api_error(e),
    }
}

/// The form's fields: `url`, `description` and the ticked `event_types`.
#[derive(Default)]
struct HookForm {
    url: String,
    description: String,
    event_types: Vec<String>,
}

fn parse(body: &[u8]) -> HookForm {
    let mut f = HookForm::default();
    for (k, v) in form_urlencoded::parse(body) {
        match &*k {
            "url" => f.url = v.into_owned(),
            "description" => f.description = v.into_owned(),
            "event_types" => f.event_types.push(v.into_owned()),
            _ => {}
        }
    }
    f
}

#[derive(Serialize)]
struct Choice {
    value: &'static str,
    checked: bool,
}

/// Event types grouped by the resource they are about (`user`, `project`…).
#[derive(Serialize)]
struct Group {
    name: &'static str,
    types: Vec<Choice>,
}

fn groups(checked: &[String]) -> Vec<Group> {
    let mut out: Vec<Group> = Vec::new();
    for t in event_types() {
        let name = t.split_once('.').map_or(*t, |(r, _)| r);
        let choice = Choice {
            value: t,
            checked: checked.iter().any(|c| c == t),
        };
        match out.last_mut() {
            Some(g) if g.name == name => g.types.push(choice),
            _ => out.push(Group {
                name,
                types: vec![choice],
            }),
        }
    }
    out
}

#[derive(Serialize)]
struct FormView {
    frame: Frame,
    /// `None`: a new endpoint.
    id: Option<Uuid>,
    url: String,
    description: String,
    all_events: bool,
    groups: Vec<Group>,
    errors: Vec<String>,
}

fn form_page(status: StatusCode, frame: Frame, id: Option<Uuid>, form: HookForm, errors: Vec<String>) -> Response {
    let view = FormView {
        frame,
        id,
        all_events: form.event_types.iter().any(|t| t == WILDCARD),
        groups: groups(&form.event_types),
        url: form.url,
        description: form.description,
        errors,
    };
    render::page(status, "settings_webhook_form.html", view)
}

pub async fn new_page(me: Admin) -> Response {
    form_page(
        StatusCode::OK,
        me.frame("/admin/webhooks"),
        None,
        HookForm::default(),
        Vec::new(),
    )
}

pub async fn create_submit(State(state): State<AppState>, me: Admin, body: Bytes) -> Response {
    let frame = me.frame("/admin/webhooks");
    let form = parse(&body);
    let input = NewWebhook {
        url: form.url.clone(),
        event_types: form.event_types.clone(),
        description: Some(form.description.clone()),
    };
    match hooks::create_webhook(State(state), me.authz, ApiJson(input)).await {
        Ok((_, ApiJson(created))) => secret_page(
            frame,
            format!("Webhook to {}", created.webhook.url),
            "Copy the signing secret now: it is shown only this once. Your receiver verifies each \
             delivery's webhook-signature header with it (Standard Webhooks).",
            vec![CopyItem {
                id: "webhook-secret",
                label: "Signing secret",
                value: created.secret,
            }],
            (format!("/admin/webhooks/{}", created.webhook.id), "Go to the webhook"),
        ),
        Err(e) if fixable(&e) => form_page(e.status(), frame, None, form, messages(&e)),
        Err(e) => refused(e),
    }
}

#[derive(Serialize)]
struct DeliveryRow {
    id: Uuid,
    event_type: String,
    status: String,
    attempts: i32,
    response_status: Option<i32>,
    latency_ms: Option<i32>,
    last_error: Option<String>,
    next_attempt: Option<String>,
    created: String,
}

impl From<DeliveryView> for DeliveryRow {
    fn from(d: DeliveryView) -> Self {
        DeliveryRow {
            id: d.id,
            event_type: d.event_type,
            status: d.status,
            attempts: d.attempts,
            response_status: d.response_status,
            latency_ms: d.latency_ms,
            last_error: d.last_error,
            next_attempt: d.next_attempt_at.map(when),
            created: when(d.created_at),
        }
    }
}

#[derive(Serialize)]
struct EndpointView {
    frame: Frame,
    hook: EndpointRow,
    rotation_until: Option<String>,
    deliveries: Vec<DeliveryRow>,
    notice: Option<&'static str>,
}

pub async fn endpoint_page(
    State(state): State<AppState>,
    me: Admin,
    Path(id): Path<Uuid>,
    Query(done): Query<Done>,
) -> Response {
    let frame = me.frame("/admin/webhooks");
    let ctx = me.authz.ctx.clone();
    let hook = match hooks::get_webhook(me.authz, ApiPath(id)).await {
        Ok(ApiJson(hook)) => hook,
        Err(e) => return refused(e),
    };
    let deliveries = match again(&state, &ctx).await {
        Ok(authz) => hooks::list_deliveries(authz, ApiPath(id), ApiQuery(all())).await,
        Err(e) => Err(e),
    };
    let deliveries = match deliveries {
        Ok(ApiJson(page)) => page.items.into_iter().map(DeliveryRow::from).collect(),
        Err(e) => return refused(e),
    };
    let view = EndpointView {
        frame,
        rotation_until: hook.previous_secret_expires_at.map(when),
        hook: hook.into(),
        deliveries,
        notice: notice(&done),
    };
    render::ok("settings_webhook.html", view)
}

pub async fn update_submit(State(state): State<AppState>, me: Admin, Path(id): Path<Uuid>, body: Bytes) -> Response {
    let frame = me.frame("/admin/webhooks");
    let form = parse(&body);
    let changes = WebhookChanges {
        url: Some(form.url.clone()),
        event_types: Some(form.event_types.clone()),
        description: Some(form.description.clone()),
        enabled: None,
    };
    match hooks::update_webhook(State(state), me.authz, ApiPath(id), ApiJson(changes)).await {
        Ok(_) => see_other(&format!("/admin/webhooks/{id}?done=saved")),
        Err(e) if fixable(&e) => form_page(e.status(), frame, Some(id), form, messages(&e)),
        Err(e) => refused(e),
    }
}

/// The edit form, filled from the endpoint as stored.
pub async fn edit_page(me: Admin, Path(id): Path<Uuid>) -> Response {
    let frame = me.frame("/admin/webhooks");
    match hooks::get_webhook(me.authz, ApiPath(id)).await {
        Ok(ApiJson(hook)) => {
            let form = HookForm {
                url: hook.url,
                description: hook.description,
                event_types: hook.event_types,
            };
            form_page(StatusCode::OK, frame, Some(id), form, Vec::new())
        }
        Err(e) => refused(e),
    }
}

#[derive(Deserialize)]
pub struct EnabledForm {
    enabled: bool,
}

pub async fn enabled_submit(
    State(state): State<AppState>,
    me: Admin,
    Path(id): Path<Uuid>,
    axum::Form(form): axum::Form<EnabledForm>,
) -> Response {
    let changes = WebhookChanges {
        enabled: Some(form.enabled),
        ..Default::default()
    };
    match hooks::update_webhook(State(state), me.authz, ApiPath(id), ApiJson(changes)).await {
        Ok(_) => {
            let done = if form.enabled { "enabled" } else { "disabled" };
            see_other(&format!("/admin/webhooks/{id}?done={done}"))
        }
        Err(e) => refused(e),
    }
}

pub async fn rotate_submit(State(state): State<AppState>, me: Admin, Path(id): Path<Uuid>) -> Response {
    let frame = me.frame("/admin/webhooks");
    match hooks::rotate_secret(State(state), me.authz, ApiPath(id)).await {
        Ok(ApiJson(rotated)) => secret_page(
            frame,
            format!("New secret for {}", rotated.webhook.url),
            "Copy the new signing secret now: it is shown only this once. For 24 hours each delivery is \
             signed with both the old and the new secret, so your receiver can switch without losing events.",
            vec![CopyItem {
                id: "webhook-secret",
                label: "Signing secret",
                value: rotated.secret,
            }],
            (format!("/admin/webhooks/{id}"), "Back to the webhook"),
        ),
        Err(e) => refused(e),
    }
}

pub async fn test_submit(me: Admin, Path(id): Path<Uuid>) -> Response {
    match hooks::test_webhook(me.authz, ApiPath(id)).await {
        Ok(_) => see_other(&format!("/admin/webhooks/{id}?done=ping")),
        Err(e) => refused(e),
    }
}

pub async fn retry_submit(me: Admin, Path((id, delivery)): Path<(Uuid, Uuid)>) -> Response {
    match hooks::retry_delivery(me.authz, ApiPath((id, delivery))).await {
        Ok(_) => see_other(&format!("/admin/webhooks/{id}?done=retried")),
        Err(e) => refused(e),
    }
}

pub async fn delete_page(me: Admin, Path(id): Path<Uuid>) -> Response {
    let frame = me.frame("/admin/webhooks");
    let hook = match hooks::get_webhook(me.authz, ApiPath(id)).await {
        Ok(ApiJson(hook)) => hook,
        Err(e) => return refused(e),
    };
    let text = format!(
        "Delete the webhook to {}? Its delivery log is deleted with it, and nothing more is sent to it.",
        hook.url
    );
    let (action, back) = (format!("/admin/webhooks/{id}/delete"), format!("/admin/webhooks/{id}"));
    confirm_page(frame, "Delete webhook", &text, &action, "Delete webhook", &back)
}

pub async fn delete_submit(me: Admin, Path(id): Path<Uuid>) -> Response {
    match hooks::delete_webhook(me.authz, ApiPath(id)).await {
        Ok(_) => see_other("/admin/webhooks?done=deleted"),
        Err(ApiError::NotFound(_)) => see_other("/admin/webhooks"),
        Err(e) => refused(e),
    }
}
