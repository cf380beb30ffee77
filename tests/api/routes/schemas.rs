//! The OpenAPI schemas themselves: stats document their own shapes, and schema
//! type names are unique.

/// Two response types with one schema name would leave one of them documented
/// with the other's fields (OpenAPI components are keyed by name).
#[test]
fn tenant_and_project_stats_document_their_own_shapes() {
    let doc = serde_json::to_value(tenantry::router::openapi()).unwrap();
    let fields = |name: &str| -> Vec<String> {
        let props = doc["components"]["schemas"][name]["properties"].as_object();
        props.map(|p| p.keys().cloned().collect()).unwrap_or_default()
    };
    assert!(fields("DocumentCounts").contains(&"draft".to_string()), "tenant stats");
    assert!(
        fields("StorageUsage").contains(&"max_bytes".to_string()),
        "tenant stats"
    );
    assert!(
        fields("DocumentStats").contains(&"by_content_type".to_string()),
        "project stats"
    );
    assert!(
        fields("StorageQuota").contains(&"percent_used".to_string()),
        "project stats"
    );
}

/// Every type documented in the OpenAPI components has a name of its own, so
/// none is silently replaced by another type's schema.
#[test]
fn schema_type_names_are_unique() {
    fn walk(dir: &std::path::Path, out: &mut Vec<(String, String)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let src = std::fs::read_to_string(&path).unwrap();
                for (at, _) in src.match_indices("ToSchema") {
                    let rest = &src[at..];
                    let next = [rest.find("pub struct "), rest.find("pub enum ")];
                    let Some(decl) = next.into_iter().flatten().min() else {
                        continue;
                    };
                    let name: String = rest[decl..]
                        .split_whitespace()
                        .nth(2)
                        .unwrap_or_default()
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    out.push((name, path.display().to_string()));
                }
            }
        }
    }
    let mut found = Vec::new();
    walk(
        std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/src")),
        &mut found,
    );
    found.sort();
    found.dedup();
    let clashes: Vec<_> = found.windows(2).filter(|w| w[0].0 == w[1].0).collect();
    assert!(clashes.is_empty(), "schema names used by several types: {clashes:?}");
}
