//! PATCH (RFC 7644 §3.5.2) applied to a resource's JSON form: `add`,
//! `replace`, `remove`, with or without `path`, value-filtered paths
//! (`members[value eq "…"]`, `emails[type eq "work"].value`), and the known
//! client quirks: Entra's capitalised `op` (`Replace`), `"True"`/`"False"`
//! strings (read by the resource, see `users::read_active`), a value object
//! without a path, and `remove` with a `value` list of members; Okta's full
//! member replace (`replace` of `members`). The resource then validates and
//! stores the result like a PUT.

use serde_json::{Map, Value};

use super::{
    error::{ScimError, ScimResult},
    filter::{self, Filter, lookup, normalise_attr},
};

/// Most operations accepted in one request.
const MAX_OPERATIONS: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    Add,
    Replace,
    Remove,
}

#[derive(Debug, Clone)]
pub struct PatchOp {
    pub op: OpKind,
    pub path: Option<String>,
    pub value: Option<Value>,
}

fn syntax(detail: impl Into<String>) -> ScimError {
    ScimError::bad("invalidSyntax", detail)
}

/// Reads a PatchOp message's `Operations` (400 `invalidSyntax` when malformed).
pub fn parse_ops(body: &Value) -> ScimResult<Vec<PatchOp>> {
    let ops = lookup(body, "Operations")
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty())
        .ok_or_else(|| syntax("A PatchOp needs a non-empty Operations array"))?;
    if ops.len() > MAX_OPERATIONS {
        return Err(syntax(format!("At most {MAX_OPERATIONS} operations per request")));
    }
    ops.iter()
        .map(|o| {
            let op = match lookup(o, "op")
                .and_then(Value::as_str)
                .map(str::to_ascii_lowercase)
                .as_deref()
            {
                Some("add") => OpKind::Add,
                Some("replace") => OpKind::Replace,
                Some("remove") => OpKind::Remove,
                _ => return Err(syntax("Each operation's op is add, replace or remove")),
            };
            let path = match lookup(o, "path") {
                None | Some(Value::Null) => None,
                Some(Value::String(p)) if !p.trim().is_empty() => Some(p.trim().to_string()),
                Some(_) => return Err(ScimError::bad("invalidPath", "path must be a non-empty string")),
            };
            let value = lookup(o, "value").cloned();
            if op != OpKind::Remove && value.is_none() {
                return Err(syntax("add and replace need a value"));
            }
            if op == OpKind::Remove && path.is_none() {
                return Err(ScimError::bad("noTarget", "remove needs a path"));
            }
            Ok(PatchOp { op, path, value })
        })
        .collect()
}

/// A parsed PATCH path: `attr`, `attr.sub`, `attr[filter]` or `attr[filter].sub`.
#[derive(Debug)]
struct Path {
    attr: String,
    filter: Option<Filter>,
    sub: Option<String>,
}

/// `None` for an extension schema's attribute (`urn:…:enterprise:2.0:User:department`),
/// which this server does not store: such operations are skipped, as RFC 7644
/// §3.5.2 lets a server ignore attributes it does not support.
fn parse_path(raw: &str) -> ScimResult<Option<Path>> {
    if normalise_attr(raw).to_ascii_lowercase().starts_with("urn:") {
        return Ok(None);
    }
    let bad = || ScimError::bad("invalidPath", format!("Invalid path {raw:?}"));
    if raw.len() > filter::MAX_LEN {
        return Err(bad());
    }
    let (head, filter, tail) = match raw.find('[') {
        Some(open) => {
            let close = raw.rfind(']').filter(|c| *c > open).ok_or_else(bad)?;
            let inner = filter::parse(&raw[open + 1..close]).map_err(|e| ScimError::bad("invalidPath", e.detail))?;
            (
                &raw[..open],
                Some(inner),
                raw[close + 1..].strip_prefix('.').unwrap_or(&raw[close + 1..]),
            )
        }
        None => (raw, None, ""),
    };
    let head = normalise_attr(head);
    let valid = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "_$-".contains(c));
    let (attr, sub) = match (filter.is_some(), head.split_once('.')) {
        (false, Some((a, s))) => (a.to_string(), Some(s.to_string())),
        _ => (head.clone(), (!tail.is_empty()).then(|| tail.to_string())),
    };
    if !valid(&attr) || sub.as_deref().is_some_and(|s| !valid(s)) {
        return Err(bad());
    }
    Ok(Some(Path { attr, filter, sub }))
}

/// The key of `obj` matching `name` case-insensitively, or `name` itself.
fn key(obj: &Map<String, Value>, name: &str) -> String {
    obj.keys()
        .find(|k| k.eq_ignore_ascii_case(name))
        .cloned()
        .unwrap_or_else(|| name.to_string())
}

fn same_member(a: &Value, b: &Value) -> bool {
    match (lookup(a, "value"), lookup(b, "value")) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

/// Adds the elements of `value` not yet in `list`.
fn append(list: &mut Vec<Value>, value: Value) {
    let items = match value {
        Value::Array(items) => items,
        one => vec![one],
    };
    for item in items {
        if !list.iter().any(|e| same_member(e, &item)) {
            list.push(item);
        }
    }
}

/// Applies the operations in order to `resource` (a JSON object).
pub fn apply(resource: &mut Value, ops: &[PatchOp]) -> ScimResult<()> {
    for op in ops {
        match &op.path {
            None => {
                let Some(Value::Object(values)) = &op.value else {
                    return Err(syntax("Without a path the value must be an object"));
                };
                for (k, v) in values {
                    if k.eq_ignore_ascii_case("schemas") {
                        continue;
                    }
                    if let Some(path) = parse_path(k)? {
                        apply_path(resource, op.op, &path, Some(v.clone()))?;
                    }
                }
            }
            Some(p) => {
                if let Some(path) = parse_path(p)? {
                    apply_path(resource, op.op, &path, op.value.clone())?;
                }
            }
        }
    }
    Ok(())
}

fn apply_path(resource: &mut Value, op: OpKind, path: &Path, value: Option<Value>) -> ScimResult<()> {
    let obj = resource
        .as_object_mut()
        .ok_or_else(|| syntax("The resource is not an object"))?;
    let k = key(obj, &path.attr);
    match (&path.filter, &path.sub) {
        (None, None) => {
            match (op, value) {
                (OpKind::Remove, Some(Value::Array(gone))) => {
                    // Entra: remove members listed in `value`.
                    if let Some(Value::Array(list)) = obj.get_mut(&k) {
                        list.retain(|e| !gone.iter().any(|g| same_member(e, g)));
                    }
                }
                (OpKind::Remove, _) => {
                    obj.remove(&k);
                }
                (OpKind::Add, Some(v)) if obj.get(&k).is_some_and(Value::is_array) => {
                    if let Some(Value::Array(list)) = obj.get_mut(&k) {
                        append(list, v);
                    }
                }
                (OpKind::Add, Some(Value::Object(fields))) if obj.get(&k).is_some_and(Value::is_object) => {
                    let target = obj.get_mut(&k).and_then(Value::as_object_mut).expect("checked object");
                    for (f, v) in fields {
                        let fk = key(target, &f);
                        target.insert(fk, v);
                    }
                }
                (_, Some(v)) => {
                    obj.insert(k, v);
                }
                (_, None) => return Err(syntax("add and replace need a value")),
            }
            Ok(())
        }
        (None, Some(sub)) => {
            let target = obj.entry(k).or_insert_with(|| Value::Object(Map::new()));
            let targets: Vec<&mut Value> = match target {
                Value::Array(items) => items.iter_mut().collect(),
                other => vec![other],
            };
            for t in targets {
                set_sub(t, op, sub, value.clone())?;
            }
            Ok(())
        }
        (Some(filter), sub) => {
            let list = match obj.entry(k).or_insert_with(|| Value::Array(Vec::new())) {
                Value::Array(list) => list,
                _ => {
                    return Err(ScimError::bad(
                        "invalidPath",
                        "A filtered path needs a multi-valued attribute",
                    ));
                }
            };
            let matched = list.iter().filter(|e| filter.matches(e)).count();
            match (op, sub) {
                (OpKind::Remove, None) => list.retain(|e| !filter.matches(e)),
                (_, None) => {
                    let v = value.ok_or_else(|| syntax("add and replace need a value"))?;
                    if matched == 0 {
                        if op == OpKind::Replace {
                            return Err(ScimError::bad("noTarget", "No element matches the path's filter"));
                        }
                        append(list, v);
                    } else {
                        for e in list.iter_mut().filter(|e| filter.matches(e)) {
                            *e = v.clone();
                        }
                    }
                }
                (_, Some(sub)) => {
                    if matched == 0 && op != OpKind::Remove {
                        // e.g. `emails[type eq "work"].value` on a user without that email yet.
                        let mut elem = seed_from_filter(filter)
                            .ok_or_else(|| ScimError::bad("noTarget", "No element matches the path's filter"))?;
                        set_sub(&mut elem, op, sub, value)?;
                        list.push(elem);
                    } else {
                        for e in list.iter_mut().filter(|e| filter.matches(e)) {
                            set_sub(e, op, sub, value.clone())?;
                        }
                    }
                }
            }
            Ok(())
        }
    }
}

fn set_sub(target: &mut Value, op: OpKind, sub: &str, value: Option<Value>) -> ScimResult<()> {
    if target.is_null() {
        *target = Value::Object(Map::new());
    }
    let obj = target
        .as_object_mut()
        .ok_or_else(|| ScimError::bad("invalidPath", "The path's attribute has no sub-attributes"))?;
    let k = key(obj, sub);
    match (op, value) {
        (OpKind::Remove, _) => {
            obj.remove(&k);
        }
        (_, Some(v)) => {
            obj.insert(k, v);
        }
        (_, None) => return Err(syntax("add and replace need a value")),
    }
    Ok(())
}

/// A new element for a filter made only of `attr eq value` terms joined by `and`.
fn seed_from_filter(f: &Filter) -> Option<Value> {
    let mut obj = Map::new();
    fn walk(f: &Filter, obj: &mut Map<String, Value>) -> bool {
        match f {
            Filter::Cmp {
                attr,
                op: filter::Op::Eq,
                value,
            } => {
                obj.insert(attr.clone(), value.clone());
                true
            }
            Filter::And(a, b) => walk(a, obj) && walk(b, obj),
            _ => false,
        }
    }
    walk(f, &mut obj).then_some(Value::Object(obj))
}

#[cfg(test)]
#[path = "patch_tests.rs"]
mod tests;
