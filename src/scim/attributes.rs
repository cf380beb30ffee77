//! `attributes` and `excludedAttributes` (RFC 7644 §3.4.2.5, §3.9): which
//! attributes a response carries. `id`, `schemas` and `meta` are always
//! returned. Names are case-insensitive, may carry the core schema URN
//! (`urn:…:core:2.0:User:userName`) and may name a sub-attribute
//! (`name.givenName`, `emails.value`), kept or removed in every element of a
//! multi-valued attribute.

use serde::Deserialize;
use serde_json::{Map, Value};

use super::filter::normalise_attr;

/// Returned whatever the request asks.
const ALWAYS: [&str; 3] = ["id", "schemas", "meta"];

/// The two query parameters of any request that answers with resources.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Projection {
    pub attributes: Option<String>,
    #[serde(rename = "excludedAttributes")]
    pub excluded_attributes: Option<String>,
}

/// `(attribute, sub-attribute)`, lower-cased.
fn paths(list: Option<&str>) -> Option<Vec<(String, Option<String>)>> {
    let list = list?.trim();
    if list.is_empty() {
        return None;
    }
    Some(
        list.split(',')
            .map(|a| normalise_attr(a.trim()).to_ascii_lowercase())
            .filter(|a| !a.is_empty())
            .map(|a| match a.split_once('.') {
                Some((top, sub)) => (top.to_string(), Some(sub.to_string())),
                None => (a, None),
            })
            .collect(),
    )
}

/// Keeps (or drops) the sub-attributes `subs` of an object, or of every object in a list.
fn filter_subs(value: Value, subs: &[&str], keep: bool) -> Value {
    let pick = |map: Map<String, Value>| -> Map<String, Value> {
        map.into_iter()
            .filter(|(k, _)| subs.iter().any(|s| k.eq_ignore_ascii_case(s)) == keep)
            .collect()
    };
    match value {
        Value::Object(map) => Value::Object(pick(map)),
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .map(|v| match v {
                    Value::Object(map) => Value::Object(pick(map)),
                    other => other,
                })
                .collect(),
        ),
        other => other,
    }
}

impl Projection {
    /// Whether the response will carry `attr` (a top-level name) at all:
    /// lets a handler skip loading what would be dropped.
    pub fn includes(&self, attr: &str) -> bool {
        let attr = attr.to_ascii_lowercase();
        if let Some(wanted) = paths(self.attributes.as_deref())
            && !wanted.iter().any(|(top, _)| *top == attr)
        {
            return false;
        }
        let excluded = paths(self.excluded_attributes.as_deref()).unwrap_or_default();
        !excluded.iter().any(|(top, sub)| *top == attr && sub.is_none())
    }

    /// The resource with only what was asked for.
    pub fn apply(&self, resource: Value) -> Value {
        let Value::Object(mut map) = resource else {
            return resource;
        };
        let is_always = |k: &str| ALWAYS.iter().any(|a| k.eq_ignore_ascii_case(a));
        if let Some(wanted) = paths(self.attributes.as_deref()) {
            map = map
                .into_iter()
                .filter_map(|(k, v)| {
                    let lower = k.to_ascii_lowercase();
                    if is_always(&k) || wanted.iter().any(|(top, sub)| *top == lower && sub.is_none()) {
                        return Some((k, v));
                    }
                    let subs: Vec<&str> = wanted
                        .iter()
                        .filter(|(top, _)| *top == lower)
                        .filter_map(|(_, sub)| sub.as_deref())
                        .collect();
                    (!subs.is_empty()).then(|| (k, filter_subs(v, &subs, true)))
                })
                .collect();
        }
        if let Some(excluded) = paths(self.excluded_attributes.as_deref()) {
            map = map
                .into_iter()
                .filter_map(|(k, v)| {
                    let lower = k.to_ascii_lowercase();
                    if is_always(&k) {
                        return Some((k, v));
                    }
                    if excluded.iter().any(|(top, sub)| *top == lower && sub.is_none()) {
                        return None;
                    }
                    let subs: Vec<&str> = excluded
                        .iter()
                        .filter(|(top, _)| *top == lower)
                        .filter_map(|(_, sub)| sub.as_deref())
                        .collect();
                    Some((
                        k,
                        if subs.is_empty() {
                            v
                        } else {
                            filter_subs(v, &subs, false)
                        },
                    ))
                })
                .collect();
        }
        Value::Object(map)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn user() -> Value {
        json!({"schemas": ["s"], "id": "1", "userName": "a@b.c", "active": true,
               "name": {"givenName": "Ada", "familyName": "L"},
               "emails": [{"value": "a@b.c", "type": "work", "primary": true}],
               "meta": {"version": "W/\"1\""}})
    }

    fn projection(attributes: Option<&str>, excluded: Option<&str>) -> Projection {
        Projection {
            attributes: attributes.map(str::to_string),
            excluded_attributes: excluded.map(str::to_string),
        }
    }

    #[test]
    fn attributes_keep_only_what_is_named_plus_id_schemas_and_meta() {
        let p = projection(
            Some("USERNAME, name.givenName,urn:ietf:params:scim:schemas:core:2.0:User:emails.value"),
            None,
        );
        assert_eq!(
            p.apply(user()),
            json!({"schemas": ["s"], "id": "1", "userName": "a@b.c", "name": {"givenName": "Ada"},
                   "emails": [{"value": "a@b.c"}], "meta": {"version": "W/\"1\""}})
        );
        assert!(p.includes("emails") && !p.includes("active"));
    }

    #[test]
    fn excluded_attributes_drop_attributes_and_sub_attributes_but_never_id() {
        let p = projection(None, Some("emails.type,active,id,schemas,name"));
        assert_eq!(
            p.apply(user()),
            json!({"schemas": ["s"], "id": "1", "userName": "a@b.c",
                   "emails": [{"value": "a@b.c", "primary": true}], "meta": {"version": "W/\"1\""}})
        );
        assert!(!p.includes("active") && p.includes("emails") && p.includes("userName"));
        assert_eq!(projection(Some(""), Some(" ")).apply(user()), user());
    }
}
