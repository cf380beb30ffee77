//! Discovery (RFC 7644 §4): what this server really supports. Public metadata,
//! but served only to a valid SCIM token like the rest of `/scim/v2`.

use axum::{extract::State, http::StatusCode, response::Response};
use serde_json::{Value, json};

use super::{
    MAX_RESULTS,
    auth::ScimAuth,
    error::{ScimError, ScimResult, scim_response},
};
use crate::app::AppState;

pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const LIST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// The server's base URL for SCIM (`{BASE_URL}/scim/v2`).
pub fn base(state: &AppState) -> String {
    format!("{}/scim/v2", state.config.base_url.trim_end_matches('/'))
}

/// `GET /scim/v2/ServiceProviderConfig`.
pub async fn service_provider_config(State(state): State<AppState>, _auth: ScimAuth) -> Response {
    let body = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
        "documentationUri": format!("{}/docs", state.config.base_url.trim_end_matches('/')),
        "patch": {"supported": true},
        "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": true, "maxResults": MAX_RESULTS},
        "changePassword": {"supported": false},
        "sort": {"supported": true},
        "etag": {"supported": true},
        "authenticationSchemes": [{
            "type": "oauthbearertoken", "name": "SCIM bearer token", "primary": true,
            "description": "A tenant's SCIM token from POST /api/v1/scim/tokens, as Authorization: Bearer"
        }],
        "meta": {"resourceType": "ServiceProviderConfig",
                 "location": format!("{}/ServiceProviderConfig", base(&state))}
    });
    scim_response(StatusCode::OK, &body)
}

fn attr(name: &str, ty: &str, multi: bool, required: bool, mutability: &str, uniqueness: &str) -> Value {
    json!({"name": name, "type": ty, "multiValued": multi, "required": required,
           "caseExact": false, "mutability": mutability, "returned": "default", "uniqueness": uniqueness})
}

fn complex(name: &str, multi: bool, mutability: &str, subs: Vec<Value>) -> Value {
    let mut a = attr(name, "complex", multi, false, mutability, "none");
    a["subAttributes"] = Value::Array(subs);
    a
}

fn schemas(state: &AppState) -> Vec<Value> {
    let b = base(state);
    let user = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
        "id": USER_SCHEMA, "name": "User", "description": "A tenant user; userName is the email",
        "attributes": [
            attr("userName", "string", false, true, "readWrite", "server"),
            complex("name", false, "readWrite", vec![
                attr("givenName", "string", false, false, "readWrite", "none"),
                attr("familyName", "string", false, false, "readWrite", "none"),
                attr("formatted", "string", false, false, "readOnly", "none"),
            ]),
            attr("displayName", "string", false, false, "readOnly", "none"),
            complex("emails", true, "readWrite", vec![
                attr("value", "string", false, false, "readWrite", "none"),
                attr("type", "string", false, false, "readWrite", "none"),
                attr("primary", "boolean", false, false, "readWrite", "none"),
            ]),
            attr("active", "boolean", false, false, "readWrite", "none"),
            attr("externalId", "string", false, false, "readWrite", "none"),
            complex("groups", true, "readOnly", vec![
                attr("value", "string", false, false, "readOnly", "none"),
                attr("display", "string", false, false, "readOnly", "none"),
            ]),
        ],
        "meta": {"resourceType": "Schema", "location": format!("{b}/Schemas/{USER_SCHEMA}")}
    });
    let group = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
        "id": GROUP_SCHEMA, "name": "Group", "description": "A tenant group; members inherit its roles",
        "attributes": [
            attr("displayName", "string", false, true, "readWrite", "server"),
            attr("externalId", "string", false, false, "readWrite", "none"),
            complex("members", true, "readWrite", vec![
                attr("value", "string", false, false, "immutable", "none"),
                attr("display", "string", false, false, "readOnly", "none"),
            ]),
        ],
        "meta": {"resourceType": "Schema", "location": format!("{b}/Schemas/{GROUP_SCHEMA}")}
    });
    vec![user, group]
}

fn resource_types(state: &AppState) -> Vec<Value> {
    let b = base(state);
    [("User", "/Users", USER_SCHEMA), ("Group", "/Groups", GROUP_SCHEMA)]
        .into_iter()
        .map(|(name, endpoint, schema)| {
            json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
                "id": name, "name": name, "endpoint": endpoint, "schema": schema,
                "meta": {"resourceType": "ResourceType", "location": format!("{b}/ResourceTypes/{name}")}
            })
        })
        .collect()
}

fn list(items: Vec<Value>) -> Response {
    scim_response(
        StatusCode::OK,
        &json!({"schemas": [LIST_SCHEMA], "totalResults": items.len(), "startIndex": 1,
                "itemsPerPage": items.len(), "Resources": items}),
    )
}

/// `GET /scim/v2/Schemas`.
pub async fn list_schemas(State(state): State<AppState>, _auth: ScimAuth) -> Response {
    list(schemas(&state))
}

/// `GET /scim/v2/Schemas/{id}`.
pub async fn get_schema(
    State(state): State<AppState>,
    _auth: ScimAuth,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> ScimResult<Response> {
    let found = schemas(&state).into_iter().find(|s| s["id"] == id.as_str());
    found
        .map(|s| scim_response(StatusCode::OK, &s))
        .ok_or_else(|| ScimError::not_found("Schema"))
}

/// `GET /scim/v2/ResourceTypes`.
pub async fn list_resource_types(State(state): State<AppState>, _auth: ScimAuth) -> Response {
    list(resource_types(&state))
}

/// `GET /scim/v2/ResourceTypes/{id}`.
pub async fn get_resource_type(
    State(state): State<AppState>,
    _auth: ScimAuth,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> ScimResult<Response> {
    let found = resource_types(&state).into_iter().find(|s| s["id"] == id.as_str());
    found
        .map(|s| scim_response(StatusCode::OK, &s))
        .ok_or_else(|| ScimError::not_found("ResourceType"))
}
