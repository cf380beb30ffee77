//! `/scim/v2/Users`: tenant users as SCIM resources. `userName` is the email.
//!
//! Every write goes through the account code the rest of the API uses:
//! creation through `users::accounts::create_user` (seat limit, name rules,
//! default role, `user.created` audit; no password mail is sent: the
//! identity provider signs the user in), deactivation through
//! `users::accounts::set_active` (revokes sessions and open links) under the
//! last-admin guard. `DELETE` deactivates and marks the row `scim_deleted_at`:
//! SCIM then answers 404 for it, the row and its audit trail stay, and a later
//! `POST` of the same userName brings it back.

use axum::{
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode},
    response::Response,
};
use serde_json::{Value, json};
use time::{OffsetDateTime, format_description::well_known::Rfc3339};
use uuid::Uuid;

use super::{
    attributes::Projection,
    auth::{ScimAuth, ScimBody, check_if_match},
    discovery::{USER_SCHEMA, base},
    error::{ScimError, ScimResult, scim_response},
    filter::lookup,
    list::{ListParams, list_response, query_page},
    patch,
    repo::{self as scim_repo, UserRow},
};
use crate::{
    app::AppState,
    audit::{self, AuditAction, AuditActor, AuditEvent},
    db::TenantTx,
    http::error::Validator,
    rbac::admins::AdminGuard,
    users::{
        accounts::{self, Email, NewUser, RoleGrant, ScimFields, validate_name},
        repo,
    },
};

pub fn version_of(v: i32) -> String {
    format!("W/\"{v}\"")
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

/// The SCIM representation of a user.
pub fn render(state: &AppState, u: &UserRow) -> Value {
    let base = base(state);
    let display = format!("{} {}", u.first_name, u.last_name).trim().to_string();
    let groups: Vec<Value> = u
        .group_ids
        .iter()
        .zip(&u.group_names)
        .map(|(id, name)| json!({"value": id, "display": name, "$ref": format!("{base}/Groups/{id}")}))
        .collect();
    let mut v = json!({
        "schemas": [USER_SCHEMA],
        "id": u.id,
        "userName": u.email,
        "name": {"givenName": u.first_name, "familyName": u.last_name, "formatted": display},
        "displayName": if display.is_empty() { u.email.clone() } else { display },
        "emails": [{"value": u.email, "type": "work", "primary": true}],
        "active": u.is_active,
        "groups": groups,
        "meta": {
            "resourceType": "User",
            "created": rfc3339(u.created_at),
            "lastModified": rfc3339(u.updated_at),
            "version": version_of(u.version),
            "location": format!("{base}/Users/{}", u.id),
        }
    });
    if let Some(ext) = &u.scim_external_id {
        v["externalId"] = ext.clone().into();
    }
    v
}

/// The user, or 404 (unknown, another tenant's, or deleted through SCIM).
async fn load(tx: &mut TenantTx, id: &str) -> ScimResult<UserRow> {
    let id = Uuid::parse_str(id).map_err(|_| ScimError::not_found("User"))?;
    scim_repo::find_user(tx, id)
        .await?
        .ok_or_else(|| ScimError::not_found("User"))
}

/// What a SCIM body asks a user to be.
#[derive(Debug, Clone, PartialEq)]
struct Desired {
    email: String,
    first_name: String,
    last_name: String,
    active: bool,
    external_id: Option<String>,
}

fn invalid_value(detail: impl Into<String>) -> ScimError {
    ScimError::bad("invalidValue", detail)
}

/// `active` as a boolean, or Entra's `"True"`/`"False"` strings.
pub fn read_active(v: Option<&Value>) -> ScimResult<bool> {
    match v {
        None | Some(Value::Null) => Ok(true),
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(true),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(false),
        Some(_) => Err(invalid_value("active must be true or false")),
    }
}

fn opt_string(v: &Value, path: &str) -> ScimResult<Option<String>> {
    match lookup(v, path) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.trim().to_string())),
        Some(_) => Err(invalid_value(format!("{path} must be a string"))),
    }
}

fn desired(body: &Value) -> ScimResult<Desired> {
    let primary_email = lookup(body, "emails").and_then(Value::as_array).and_then(|emails| {
        let primary = emails.iter().find(|e| lookup(e, "primary") == Some(&Value::Bool(true)));
        primary
            .or(emails.first())
            .and_then(|e| lookup(e, "value"))
            .and_then(Value::as_str)
    });
    let email = opt_string(body, "userName")?
        .or_else(|| primary_email.map(str::to_string))
        .ok_or_else(|| invalid_value("userName is required"))?;
    let mut first_name = opt_string(body, "name.givenName")?.unwrap_or_default();
    let mut last_name = opt_string(body, "name.familyName")?.unwrap_or_default();
    if first_name.is_empty()
        && last_name.is_empty()
        && let Some(display) = opt_string(body, "displayName")?
    {
        let (f, l) = display.split_once(' ').unwrap_or((&display, ""));
        (first_name, last_name) = (f.trim().to_string(), l.trim().to_string());
    }
    let external_id = opt_string(body, "externalId")?.filter(|s| !s.is_empty());
    let mut v = Validator::new();
    let email = Email::parse_field(&mut v, "userName", &email);
    validate_name(&mut v, "name.givenName", &first_name);
    validate_name(&mut v, "name.familyName", &last_name);
    v.check(
        external_id.as_ref().is_none_or(|e| e.chars().count() <= 256),
        "externalId",
        "must be at most 256 characters",
    );
    v.finish()?;
    Ok(Desired {
        email: email.expect("no validation error, so a valid email").into_string(),
        first_name,
        last_name,
        active: read_active(lookup(body, "active"))?,
        external_id,
    })
}

/// 409 `uniqueness` when another user of the tenant has this email.
async fn ensure_unique(tx: &mut TenantTx, email: &str, except: Option<Uuid>) -> ScimResult<()> {
    if scim_repo::email_taken(tx, email, except).await? {
        return Err(ScimError::uniqueness(
            "A user with this userName already exists in this tenant",
        ));
    }
    Ok(())
}

/// Writes `d` over an existing user (profile, externalId, active) with the
/// seat check before reactivating and the last-admin guard around a
/// deactivation; audits `user.updated` with old and new values.
async fn update(tx: &mut TenantTx, actor: &AuditActor, old: &UserRow, d: &Desired, undelete: bool) -> ScimResult<()> {
    if d.email != old.email.to_lowercase() {
        ensure_unique(tx, &d.email, Some(old.id)).await?;
    }
    // Lock order: the tenant (seats) or the admin set before the user row.
    let admins = match (old.is_active, d.active) {
        (false, true) => {
            repo::ensure_seat_available(tx).await?;
            None
        }
        (true, false) => Some(AdminGuard::lock(tx).await?),
        _ => None,
    };
    let fields = ScimFields {
        email: &d.email,
        first_name: &d.first_name,
        last_name: &d.last_name,
        external_id: d.external_id.as_deref(),
        undelete,
    };
    accounts::scim_replace(tx, old.id, fields).await?;
    let mut revoked = 0;
    if d.active != old.is_active {
        revoked = accounts::set_active(tx, old.id, d.active, None).await?;
    }
    if let Some(admins) = admins {
        admins.ensure_admin_remains(tx).await?;
    }
    let tenant = tx.tenant();
    audit::record(
        tx,
        tenant,
        actor,
        AuditEvent::new(AuditAction::UserUpdated, "user", old.id)
            .old(
                json!({"email": old.email, "first_name": old.first_name, "last_name": old.last_name,
                "is_active": old.is_active, "external_id": old.scim_external_id}),
            )
            .new_values(
                json!({"email": d.email, "first_name": d.first_name, "last_name": d.last_name,
                "is_active": d.active, "external_id": d.external_id, "sessions_revoked": revoked,
                "via": "scim"}),
            ),
    )
    .await?;
    Ok(())
}

async fn respond(
    state: &AppState,
    mut tx: TenantTx,
    id: Uuid,
    status: StatusCode,
    projection: &Projection,
) -> ScimResult<Response> {
    let row = load(&mut tx, &id.to_string()).await?;
    tx.commit().await?;
    Ok(scim_response(status, &projection.apply(render(state, &row))))
}

/// `POST /scim/v2/Users`.
pub async fn create(
    State(state): State<AppState>,
    ScimAuth { mut tx, actor, .. }: ScimAuth,
    Query(projection): Query<Projection>,
    ScimBody(body): ScimBody,
) -> ScimResult<Response> {
    let d = desired(&body)?;
    // A user deleted through SCIM and provisioned again comes back (same row).
    let deleted = scim_repo::find_deleted_user(&mut tx, &d.email).await?;
    if let Some(old) = deleted {
        update(&mut tx, &actor, &old, &d, true).await?;
        return respond(&state, tx, old.id, StatusCode::CREATED, &projection).await;
    }
    ensure_unique(&mut tx, &d.email, None).await?;
    let view = accounts::create_user(
        &mut tx,
        &actor,
        // The tenant's default role: the identity provider decides who joins,
        // the tenant admin who created the token decided what they get.
        RoleGrant::Decided,
        NewUser {
            email: d.email.clone(),
            first_name: d.first_name.clone(),
            last_name: d.last_name.clone(),
            password_hash: None,
            role_names: Vec::new(),
            email_verified: true,
        },
    )
    .await?;
    accounts::set_scim_external_id(&mut tx, view.id, d.external_id.as_deref()).await?;
    if !d.active {
        accounts::set_active(&mut tx, view.id, false, None).await?;
    }
    respond(&state, tx, view.id, StatusCode::CREATED, &projection).await
}

/// `GET /scim/v2/Users/{id}?attributes=…|excludedAttributes=…`.
pub async fn get(
    State(state): State<AppState>,
    ScimAuth { mut tx, .. }: ScimAuth,
    Path(id): Path<String>,
    Query(projection): Query<Projection>,
) -> ScimResult<Response> {
    let row = load(&mut tx, &id).await?;
    Ok(scim_response(StatusCode::OK, &projection.apply(render(&state, &row))))
}

/// `GET /scim/v2/Users?filter=…&sortBy=…&sortOrder=…&startIndex=…&count=…`.
pub async fn list(
    State(state): State<AppState>,
    ScimAuth { mut tx, .. }: ScimAuth,
    Query(params): Query<ListParams>,
) -> ScimResult<Response> {
    let (rows, total, start): (Vec<UserRow>, i64, i64) = query_page(
        &mut tx,
        scim_repo::SELECT_USERS,
        "u.scim_deleted_at IS NULL",
        "u.created_at, u.id",
        scim_repo::user_column,
        &params,
    )
    .await?;
    let items = rows
        .iter()
        .map(|r| params.projection.apply(render(&state, r)))
        .collect();
    Ok(list_response(items, total, start))
}

/// `PUT /scim/v2/Users/{id}`: replaces the writable attributes.
pub async fn replace(
    State(state): State<AppState>,
    ScimAuth { mut tx, actor, .. }: ScimAuth,
    Path(id): Path<String>,
    Query(projection): Query<Projection>,
    headers: HeaderMap,
    ScimBody(body): ScimBody,
) -> ScimResult<Response> {
    let old = load(&mut tx, &id).await?;
    check_if_match(&headers, &version_of(old.version))?;
    let d = desired(&body)?;
    update(&mut tx, &actor, &old, &d, false).await?;
    respond(&state, tx, old.id, StatusCode::OK, &projection).await
}

/// `PATCH /scim/v2/Users/{id}`.
pub async fn patch(
    State(state): State<AppState>,
    ScimAuth { mut tx, actor, .. }: ScimAuth,
    Path(id): Path<String>,
    Query(projection): Query<Projection>,
    headers: HeaderMap,
    ScimBody(body): ScimBody,
) -> ScimResult<Response> {
    let old = load(&mut tx, &id).await?;
    check_if_match(&headers, &version_of(old.version))?;
    let ops = patch::parse_ops(&body)?;
    let mut resource = render(&state, &old);
    patch::apply(&mut resource, &ops)?;
    let d = desired(&resource)?;
    if d != desired(&render(&state, &old))? {
        update(&mut tx, &actor, &old, &d, false).await?;
    }
    respond(&state, tx, old.id, StatusCode::OK, &projection).await
}

/// `DELETE /scim/v2/Users/{id}`: deactivates (sessions revoked, last-admin
/// guard) and hides the user from SCIM; the row and its audit trail stay.
pub async fn delete(
    ScimAuth { mut tx, actor, .. }: ScimAuth,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ScimResult<StatusCode> {
    let old = load(&mut tx, &id).await?;
    check_if_match(&headers, &version_of(old.version))?;
    let admins = AdminGuard::lock(&mut tx).await?;
    accounts::scim_hide(&mut tx, old.id).await?;
    let revoked = if old.is_active {
        accounts::set_active(&mut tx, old.id, false, None).await?
    } else {
        0
    };
    admins.ensure_admin_remains(&mut tx).await?;
    let tenant = tx.tenant();
    audit::record(
        &mut tx,
        tenant,
        &actor,
        AuditEvent::new(AuditAction::UserDeactivated, "user", old.id)
            .old(json!({"email": old.email, "is_active": old.is_active}))
            .new_values(json!({"is_active": false, "sessions_revoked": revoked, "scim_deleted": true})),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
