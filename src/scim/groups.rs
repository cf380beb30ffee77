//! `/scim/v2/Groups`: tenant groups as SCIM resources, written through
//! `groups::repo` (the same writer as `/api/v1/groups`). Members are user ids;
//! PATCH supports adding and removing members by value, by filter path
//! (`members[value eq "…"]`), Entra's remove with a value list and Okta's
//! full replace.

use axum::{
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode},
    response::Response,
};
use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

use super::{
    attributes::Projection,
    auth::{ScimAuth, ScimBody, check_if_match},
    discovery::{GROUP_SCHEMA, base},
    error::{ScimError, ScimResult, scim_response},
    filter::lookup,
    list::{ListParams, list_response, query_page},
    patch,
    users::version_of,
};
use crate::{
    app::AppState,
    db::TenantTx,
    groups::repo::{self, GroupRow},
};

async fn render(state: &AppState, tx: &mut TenantTx, g: &GroupRow, with_members: bool) -> ScimResult<Value> {
    let base = base(state);
    let mut v = json!({
        "schemas": [GROUP_SCHEMA],
        "id": g.id,
        "displayName": g.display_name,
        "meta": {
            "resourceType": "Group",
            "created": g.created_at.format(&Rfc3339).unwrap_or_default(),
            "lastModified": g.updated_at.format(&Rfc3339).unwrap_or_default(),
            "version": version_of(g.version),
            "location": format!("{base}/Groups/{}", g.id),
        }
    });
    if let Some(ext) = &g.external_id {
        v["externalId"] = ext.clone().into();
    }
    if with_members {
        let members: Vec<Value> = repo::members(tx, g.id)
            .await?
            .into_iter()
            .map(|m| json!({"value": m.id, "display": m.email, "$ref": format!("{base}/Users/{}", m.id)}))
            .collect();
        v["members"] = Value::Array(members);
    }
    Ok(v)
}

async fn load(tx: &mut TenantTx, id: &str) -> ScimResult<GroupRow> {
    let id = Uuid::parse_str(id).map_err(|_| ScimError::not_found("Group"))?;
    repo::find(tx, id).await?.ok_or_else(|| ScimError::not_found("Group"))
}

fn display_name(body: &Value) -> ScimResult<String> {
    lookup(body, "displayName")
        .and_then(Value::as_str)
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ScimError::bad("invalidValue", "displayName is required"))
}

fn external_id(body: &Value) -> ScimResult<Option<String>> {
    match lookup(body, "externalId") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone()).filter(|s| !s.is_empty())),
        Some(_) => Err(ScimError::bad("invalidValue", "externalId must be a string")),
    }
}

/// The member ids of a body's `members` (`None` when absent).
fn member_ids(body: &Value) -> ScimResult<Option<Vec<Uuid>>> {
    let Some(members) = lookup(body, "members") else {
        return Ok(None);
    };
    let list = match members {
        Value::Null => return Ok(Some(Vec::new())),
        Value::Array(list) => list,
        _ => return Err(ScimError::bad("invalidValue", "members must be a list")),
    };
    list.iter()
        .map(|m| {
            lookup(m, "value")
                .and_then(Value::as_str)
                .and_then(|s| Uuid::parse_str(s.trim()).ok())
                .ok_or_else(|| ScimError::bad("invalidValue", "Each member needs the value of a User id"))
        })
        .collect::<ScimResult<Vec<_>>>()
        .map(Some)
}

async fn ensure_name_free(tx: &mut TenantTx, name: &str, except: Option<Uuid>) -> ScimResult<()> {
    if repo::name_taken(tx, name, except).await? {
        return Err(ScimError::uniqueness("A group with this displayName already exists"));
    }
    Ok(())
}

async fn respond(
    state: &AppState,
    mut tx: TenantTx,
    id: Uuid,
    status: StatusCode,
    projection: &Projection,
) -> ScimResult<Response> {
    let g = load(&mut tx, &id.to_string()).await?;
    let body = render(state, &mut tx, &g, projection.includes("members")).await?;
    tx.commit().await?;
    Ok(scim_response(status, &projection.apply(body)))
}

/// `POST /scim/v2/Groups`.
pub async fn create(
    State(state): State<AppState>,
    ScimAuth { mut tx, actor, .. }: ScimAuth,
    Query(projection): Query<Projection>,
    ScimBody(body): ScimBody,
) -> ScimResult<Response> {
    let name = display_name(&body)?;
    ensure_name_free(&mut tx, &name, None).await?;
    let members = member_ids(&body)?;
    let g = repo::create(&mut tx, &actor, &name, external_id(&body)?.as_deref()).await?;
    if let Some(members) = members {
        repo::set_members(&mut tx, &actor, &g, &members).await?;
    }
    respond(&state, tx, g.id, StatusCode::CREATED, &projection).await
}

/// `GET /scim/v2/Groups/{id}` (`attributes`/`excludedAttributes` honoured;
/// members are not even read when they would be dropped).
pub async fn get(
    State(state): State<AppState>,
    ScimAuth { mut tx, .. }: ScimAuth,
    Path(id): Path<String>,
    Query(projection): Query<Projection>,
) -> ScimResult<Response> {
    let g = load(&mut tx, &id).await?;
    let body = render(&state, &mut tx, &g, projection.includes("members")).await?;
    Ok(scim_response(StatusCode::OK, &projection.apply(body)))
}

/// `GET /scim/v2/Groups?filter=displayName eq "…"&sortBy=…`.
pub async fn list(
    State(state): State<AppState>,
    ScimAuth { mut tx, .. }: ScimAuth,
    Query(params): Query<ListParams>,
) -> ScimResult<Response> {
    let (rows, total, start): (Vec<GroupRow>, i64, i64) = query_page(
        &mut tx,
        repo::SELECT_GROUPS,
        "true",
        "lower(g.display_name), g.id",
        super::repo::group_column,
        &params,
    )
    .await?;
    let mut items = Vec::with_capacity(rows.len());
    let with_members = params.projection.includes("members");
    for g in &rows {
        items.push(params.projection.apply(render(&state, &mut tx, g, with_members).await?));
    }
    Ok(list_response(items, total, start))
}

/// Writes the desired name, externalId and (when given) members.
async fn store(tx: &mut TenantTx, actor: &crate::audit::AuditActor, old: &GroupRow, body: &Value) -> ScimResult<()> {
    let name = display_name(body)?;
    let ext = external_id(body)?;
    if name != old.display_name || ext != old.external_id {
        ensure_name_free(tx, &name, Some(old.id)).await?;
        repo::rename(tx, actor, old, &name, ext.as_deref()).await?;
    }
    if let Some(members) = member_ids(body)? {
        repo::set_members(tx, actor, old, &members).await?;
    }
    Ok(())
}

/// `PUT /scim/v2/Groups/{id}`: replaces name and members (absent members: none).
pub async fn replace(
    State(state): State<AppState>,
    ScimAuth { mut tx, actor, .. }: ScimAuth,
    Path(id): Path<String>,
    Query(projection): Query<Projection>,
    headers: HeaderMap,
    ScimBody(mut body): ScimBody,
) -> ScimResult<Response> {
    let old = load(&mut tx, &id).await?;
    check_if_match(&headers, &version_of(old.version))?;
    if lookup(&body, "members").is_none() {
        body["members"] = json!([]);
    }
    store(&mut tx, &actor, &old, &body).await?;
    respond(&state, tx, old.id, StatusCode::OK, &projection).await
}

/// `PATCH /scim/v2/Groups/{id}`: answers 200 with the group (Entra and Okta
/// accept 200 or 204).
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
    let mut resource = render(&state, &mut tx, &old, true).await?;
    patch::apply(&mut resource, &ops)?;
    if lookup(&resource, "members").is_none() {
        resource["members"] = json!([]);
    }
    store(&mut tx, &actor, &old, &resource).await?;
    respond(&state, tx, old.id, StatusCode::OK, &projection).await
}

/// `DELETE /scim/v2/Groups/{id}`: members lose the group's roles at once.
pub async fn delete(
    ScimAuth { mut tx, actor, .. }: ScimAuth,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ScimResult<StatusCode> {
    let old = load(&mut tx, &id).await?;
    check_if_match(&headers, &version_of(old.version))?;
    repo::delete(&mut tx, &actor, &old).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
