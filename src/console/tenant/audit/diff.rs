//! The audit row page's old → new values as a diff: nested objects flattened
//! to dotted keys, each key marked changed, added, removed or the same.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

/// One key of the old → new values.
#[derive(Debug, PartialEq, Serialize)]
pub(super) struct DiffLine {
    pub key: String,
    pub old: Option<String>,
    pub new: Option<String>,
    /// `changed`, `added`, `removed` or `same`.
    pub change: &'static str,
}

/// A value as a person reads it: strings without quotes, the rest as JSON.
fn shown(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Nested objects as dotted keys (`settings.sso_required`); other values,
/// arrays included, as one line each.
fn flatten(prefix: &str, v: &Value, out: &mut BTreeMap<String, String>) {
    match v {
        Value::Object(map) if !map.is_empty() => {
            for (k, v) in map {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out);
            }
        }
        Value::Null if prefix.is_empty() => {}
        other => {
            let key = if prefix.is_empty() { "value" } else { prefix };
            out.insert(key.to_string(), shown(other));
        }
    }
}

/// Every key of either side, in order, with what happened to it.
pub(super) fn diff(old: Option<&Value>, new: Option<&Value>) -> Vec<DiffLine> {
    let (mut a, mut b) = (BTreeMap::new(), BTreeMap::new());
    if let Some(v) = old {
        flatten("", v, &mut a);
    }
    if let Some(v) = new {
        flatten("", v, &mut b);
    }
    let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    keys.into_iter()
        .map(|k| {
            let (o, n) = (a.get(k).cloned(), b.get(k).cloned());
            let change = match (&o, &n) {
                (Some(x), Some(y)) if x == y => "same",
                (Some(_), Some(_)) => "changed",
                (None, _) => "added",
                (Some(_), None) => "removed",
            };
            DiffLine {
                key: k.clone(),
                old: o,
                new: n,
                change,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use serde_json::json;

    #[test]
    fn the_diff_marks_each_key() {
        let old = json!({"name": "Alpha", "status": "active", "version": 1, "settings": {"a": true, "b": 1}});
        let new = json!({"name": "Beta", "status": "active", "version": 2, "settings": {"a": false}, "tags": ["x"]});
        let lines = diff(Some(&old), Some(&new));
        let by_key: HashMap<&str, (&str, Option<&str>, Option<&str>)> = lines
            .iter()
            .map(|l| (l.key.as_str(), (l.change, l.old.as_deref(), l.new.as_deref())))
            .collect();
        assert_eq!(by_key["name"], ("changed", Some("Alpha"), Some("Beta")));
        assert_eq!(by_key["status"], ("same", Some("active"), Some("active")));
        assert_eq!(by_key["version"], ("changed", Some("1"), Some("2")));
        assert_eq!(by_key["settings.a"], ("changed", Some("true"), Some("false")));
        assert_eq!(by_key["settings.b"], ("removed", Some("1"), None));
        assert_eq!(by_key["tags"], ("added", None, Some("[\"x\"]")));
        assert_eq!(lines.len(), 6);
    }

    #[test]
    fn one_sided_and_scalar_values() {
        let lines = diff(None, Some(&json!({"email": "a@b.test"})));
        assert_eq!(lines[0].change, "added");
        assert!(diff(Some(&Value::Null), None).is_empty());
        assert_eq!(diff(None, Some(&json!("text")))[0].key, "value");
    }
}
