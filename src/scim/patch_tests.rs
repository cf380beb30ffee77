//! PATCH semantics on JSON resources, including the clients' quirks.

use serde_json::{Value, json};

use super::*;

fn patch(resource: Value, ops: Value) -> Result<Value, ScimError> {
    let mut r = resource;
    let ops = parse_ops(&json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops}))?;
    apply(&mut r, &ops)?;
    Ok(r)
}

fn user() -> Value {
    json!({"userName": "a@x.co", "name": {"givenName": "A", "familyName": "B"}, "active": true,
           "emails": [{"value": "a@x.co", "type": "work", "primary": true}]})
}

#[test]
fn entra_replace_without_path_and_capitalised_op() {
    let r = patch(user(), json!([{"op": "Replace", "value": {"active": "False"}}])).unwrap();
    assert_eq!(r["active"], "False");
    let r = patch(
        user(),
        json!([{"op": "Replace", "path": "name.givenName", "value": "Z"}]),
    )
    .unwrap();
    assert_eq!(r["name"]["givenName"], "Z");
    let r = patch(
        user(),
        json!([{"op": "add", "value": {"name.familyName": "Q", "externalId": "e1"}}]),
    )
    .unwrap();
    assert_eq!(r["name"]["familyName"], "Q");
    assert_eq!(r["externalId"], "e1");
}

#[test]
fn value_filtered_paths() {
    let r = patch(
        user(),
        json!([{"op": "replace", "path": "emails[type eq \"work\"].value", "value": "n@x.co"}]),
    )
    .unwrap();
    assert_eq!(r["emails"][0]["value"], "n@x.co");
    let err = patch(
        user(),
        json!([{"op": "replace", "path": "emails[type eq \"home\"]", "value": {}}]),
    )
    .unwrap_err();
    assert_eq!(err.scim_type, Some("noTarget"));
}

#[test]
fn group_members_add_remove_and_replace() {
    let g = json!({"displayName": "G", "members": [{"value": "1"}, {"value": "2"}]});
    let r = patch(
        g.clone(),
        json!([{"op": "add", "path": "members", "value": [{"value": "3"}, {"value": "1"}]}]),
    )
    .unwrap();
    assert_eq!(r["members"], json!([{"value": "1"}, {"value": "2"}, {"value": "3"}]));
    let r = patch(g.clone(), json!([{"op": "remove", "path": "members[value eq \"2\"]"}])).unwrap();
    assert_eq!(r["members"], json!([{"value": "1"}]));
    // Entra: remove with a value list.
    let r = patch(
        g.clone(),
        json!([{"op": "Remove", "path": "members", "value": [{"value": "1"}]}]),
    )
    .unwrap();
    assert_eq!(r["members"], json!([{"value": "2"}]));
    // Okta: replace the whole member list.
    let r = patch(
        g.clone(),
        json!([{"op": "replace", "path": "members", "value": [{"value": "9"}]}]),
    )
    .unwrap();
    assert_eq!(r["members"], json!([{"value": "9"}]));
    let r = patch(g, json!([{"op": "remove", "path": "members"}])).unwrap();
    assert!(r.get("members").is_none());
}

#[test]
fn extension_attributes_are_ignored() {
    let r = patch(
        user(),
        json!([{"op": "add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "value": "x"}]),
    )
    .unwrap();
    assert_eq!(r, user());
}

#[test]
fn malformed_operations_are_400() {
    for (ops, want) in [
        (json!([]), "invalidSyntax"),
        (
            json!([{"op": "move", "path": "active", "value": true}]),
            "invalidSyntax",
        ),
        (json!([{"op": "add", "path": "active"}]), "invalidSyntax"),
        (json!([{"op": "remove"}]), "noTarget"),
        (json!([{"op": "add", "path": "a b", "value": 1}]), "invalidPath"),
        (
            json!([{"op": "add", "path": "members[value eq ]", "value": 1}]),
            "invalidPath",
        ),
        (json!([{"op": "add", "value": "not an object"}]), "invalidSyntax"),
    ] {
        let err = patch(user(), ops.clone()).unwrap_err();
        assert_eq!(err.scim_type, Some(want), "{ops}");
    }
}
