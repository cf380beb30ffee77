//! The deployment files agree with the code: probes hit the real health routes on
//! the port the server binds, every variable they set is one the configuration
//! reads, secrets come from Secrets, and the PDB/HPA/Service select the
//! Deployment's pods. When `kubernetes-validate` (PyPI) is installed, the
//! manifests are also checked against the Kubernetes schemas.

mod compose;
mod k8s;

use std::{collections::BTreeMap, net::SocketAddr, path::PathBuf};

use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

/// One YAML document as JSON, with `<<` merge keys applied.
fn yaml(path: &str) -> Value {
    let mut doc: serde_norway::Value =
        serde_norway::from_str(&read(path)).unwrap_or_else(|e| panic!("{path} is not valid YAML: {e}"));
    doc.apply_merge()
        .unwrap_or_else(|e| panic!("{path}: bad merge key: {e}"));
    serde_json::to_value(doc).unwrap()
}

fn str_of<'a>(v: &'a Value, what: &str) -> &'a str {
    v.as_str().unwrap_or_else(|| panic!("{what} is not a string: {v}"))
}

fn port_of(bind_addr: &str) -> u16 {
    bind_addr
        .parse::<SocketAddr>()
        .unwrap_or_else(|e| panic!("BIND_ADDR `{bind_addr}`: {e}"))
        .port()
}

fn k8s(name: &str) -> Value {
    yaml(&format!("deploy/k8s/{name}"))
}

fn configmap_data() -> BTreeMap<String, String> {
    let cm = k8s("configmap.yaml");
    assert_eq!(cm["kind"], "ConfigMap");
    serde_json::from_value(cm["data"].clone()).expect("ConfigMap data is string → string")
}
