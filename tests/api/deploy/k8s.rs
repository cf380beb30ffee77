//! The Kubernetes manifests: probes, ports, selectors, the migration Job, secret
//! references, and (when installed) schema validation.

use std::{collections::BTreeSet, path::PathBuf};

use serde_json::Value;

use super::{configmap_data, k8s, port_of, read, root, str_of};

fn app_container(deployment: &Value) -> &Value {
    let containers = deployment["spec"]["template"]["spec"]["containers"].as_array().unwrap();
    containers
        .iter()
        .find(|c| c["name"] == "tenantry")
        .expect("a container named tenantry")
}

/// Resolves a probe's port (a number or a named container port).
fn probe_port(container: &Value, port: &Value) -> u64 {
    match port {
        Value::Number(n) => n.as_u64().unwrap(),
        Value::String(name) => container["ports"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name.as_str())
            .and_then(|p| p["containerPort"].as_u64())
            .unwrap_or_else(|| panic!("probe names unknown port `{name}`")),
        other => panic!("bad probe port {other}"),
    }
}

fn assert_selects(selector: &Value, labels: &Value, what: &str) {
    let selector = selector.as_object().unwrap_or_else(|| panic!("{what}: no selector"));
    assert!(!selector.is_empty(), "{what}: empty selector selects everything");
    for (k, v) in selector {
        assert_eq!(
            &labels[k], v,
            "{what}: selector {k}={v} does not match the pod labels {labels}"
        );
    }
}

#[test]
fn deployment_probes_and_ports_match_the_server() {
    let deployment = k8s("deployment.yaml");
    assert_eq!(deployment["kind"], "Deployment");
    let spec = &deployment["spec"];
    assert!(spec["replicas"].as_u64().unwrap() >= 2, "at least two replicas");
    let c = app_container(&deployment);

    let bind_port = port_of(&configmap_data()["BIND_ADDR"]);
    let http = c["ports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "http")
        .expect("a port named http");
    assert_eq!(
        http["containerPort"].as_u64(),
        Some(u64::from(bind_port)),
        "containerPort = BIND_ADDR port"
    );

    for (probe, path) in [("readinessProbe", "/ready"), ("livenessProbe", "/health")] {
        let get = &c[probe]["httpGet"];
        assert_eq!(get["path"], path, "{probe}");
        assert_eq!(probe_port(c, &get["port"]), u64::from(bind_port), "{probe} port");
    }
    // Those routes exist on the server.
    let http_mod = read("src/router.rs");
    for handler in ["health::health)", "health::ready)"] {
        assert!(http_mod.contains(handler), "router lacks {handler}");
    }

    let annotations = &spec["template"]["metadata"]["annotations"];
    assert_eq!(annotations["prometheus.io/scrape"], "true");
    assert_eq!(annotations["prometheus.io/path"], "/metrics");
    assert_eq!(
        str_of(&annotations["prometheus.io/port"], "prometheus.io/port"),
        bind_port.to_string()
    );

    // Graceful shutdown: the grace period outlasts preStop + the longest request.
    let args: Vec<&str> = c["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(args, ["serve", "--no-migrate"], "migrations belong to the Job");
    let pre_stop: u64 = c["lifecycle"]["preStop"]["exec"]["command"][1]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let request_timeout: u64 = configmap_data()["REQUEST_TIMEOUT_SECONDS"].parse().unwrap();
    let grace = spec["template"]["spec"]["terminationGracePeriodSeconds"]
        .as_u64()
        .unwrap();
    assert!(
        grace > pre_stop + request_timeout,
        "grace {grace}s ≤ preStop {pre_stop}s + timeout {request_timeout}s"
    );

    // Hardened: non-root, read-only root, no privilege escalation, resources set.
    let pod_sc = &spec["template"]["spec"]["securityContext"];
    assert_eq!(pod_sc["runAsNonRoot"], true);
    assert_ne!(pod_sc["runAsUser"], 0);
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(c["securityContext"]["allowPrivilegeEscalation"], false);
    for kind in ["requests", "limits"] {
        assert!(c["resources"][kind]["memory"].is_string(), "memory {kind}");
    }
    // A read-only root needs a writable /tmp.
    let mounts: Vec<&str> = c["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["mountPath"].as_str().unwrap())
        .collect();
    assert!(mounts.contains(&"/tmp"));
}

#[test]
fn service_pdb_and_hpa_target_the_deployment() {
    let deployment = k8s("deployment.yaml");
    let name = deployment["metadata"]["name"].as_str().unwrap();
    let labels = &deployment["spec"]["template"]["metadata"]["labels"];
    assert_selects(&deployment["spec"]["selector"]["matchLabels"], labels, "Deployment");

    let service = k8s("service.yaml");
    assert_selects(&service["spec"]["selector"], labels, "Service");
    let port = &service["spec"]["ports"][0];
    assert_eq!(port["name"], "http", "named port for a ServiceMonitor");
    assert_eq!(probe_port(app_container(&deployment), &port["targetPort"]), 8000);

    let pdb = k8s("pdb.yaml");
    assert_eq!(pdb["kind"], "PodDisruptionBudget");
    assert_selects(&pdb["spec"]["selector"]["matchLabels"], labels, "PodDisruptionBudget");
    let min_available = pdb["spec"]["minAvailable"].as_u64().unwrap();
    assert!(min_available >= 1 && min_available < deployment["spec"]["replicas"].as_u64().unwrap());

    let hpa = k8s("hpa.yaml");
    assert_eq!(hpa["kind"], "HorizontalPodAutoscaler");
    let target = &hpa["spec"]["scaleTargetRef"];
    assert_eq!(
        (target["kind"].as_str(), target["name"].as_str()),
        (Some("Deployment"), Some(name))
    );
    assert!(hpa["spec"]["minReplicas"].as_u64().unwrap() >= 2);
    assert!(hpa["spec"]["maxReplicas"].as_u64() > hpa["spec"]["minReplicas"].as_u64());
}

#[test]
fn migration_job_runs_migrate_with_the_configuration() {
    let job = k8s("migrate-job.yaml");
    assert_eq!(job["kind"], "Job");
    let pod = &job["spec"]["template"]["spec"];
    assert_eq!(pod["restartPolicy"], "Never");
    let c = &pod["containers"][0];
    assert_eq!(c["args"], serde_json::json!(["migrate"]));
    assert_eq!(c["envFrom"][0]["configMapRef"]["name"], "tenantry-config");
    let env: Vec<&str> = c["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    // Production start-up validates SECRET_KEY even for `migrate`.
    assert!(env.contains(&"DATABASE_URL") && env.contains(&"SECRET_KEY"), "{env:?}");
    assert_eq!(job["metadata"]["annotations"]["argocd.argoproj.io/hook"], "PreSync");

    // The kustomization lists every manifest except the Secret example.
    let kustomization = k8s("kustomization.yaml");
    let listed: BTreeSet<&str> = kustomization["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    let on_disk: BTreeSet<String> = std::fs::read_dir(root().join("deploy/k8s"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yaml") && n != "kustomization.yaml" && n != "secret.example.yaml")
        .collect();
    assert_eq!(
        listed,
        on_disk.iter().map(String::as_str).collect(),
        "kustomization resources"
    );
}

/// Secrets never sit in the ConfigMap; they come through secretKeyRef, and every
/// referenced key is documented in the example Secret.
#[test]
fn secrets_come_from_secret_references() {
    let secret_like = |name: &str| {
        ["SECRET", "PASSWORD", "DATABASE_URL", "REDIS_URL", "ENCRYPTION_KEY"]
            .iter()
            .any(|s| name.contains(s))
    };
    for key in configmap_data().keys() {
        assert!(
            !secret_like(key),
            "{key} is a secret: put it in the Secret, not the ConfigMap"
        );
    }
    let example = k8s("secret.example.yaml");
    let documented: BTreeSet<&str> = example["stringData"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for file in ["deployment.yaml", "migrate-job.yaml"] {
        let doc = k8s(file);
        for env in doc["spec"]["template"]["spec"]["containers"][0]["env"]
            .as_array()
            .unwrap()
        {
            let name = env["name"].as_str().unwrap();
            let reference = &env["valueFrom"]["secretKeyRef"];
            if secret_like(name) {
                assert!(reference.is_object(), "{file}: {name} must come from a secretKeyRef");
                assert!(env.get("value").is_none(), "{file}: {name} has a literal value");
            }
            if let Some(key) = reference["key"].as_str() {
                assert_eq!(reference["name"], "tenantry-secrets", "{file}: {name}");
                assert!(
                    documented.contains(key),
                    "{file}: secret key `{key}` missing from secret.example.yaml"
                );
            }
        }
    }
}

/// Schema validation of the manifests when `kubernetes-validate` (PyPI) is on
/// PATH; skipped loudly otherwise (the structural checks above still run).
#[test]
fn manifests_pass_kubernetes_schema_validation() {
    let dir = root().join("deploy/k8s");
    let files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml") && !p.ends_with("kustomization.yaml"))
        .collect();
    let run = std::process::Command::new("kubernetes-validate")
        .args(["--strict", "--quiet", "--kubernetes-version", "1.29.0"])
        .args(&files)
        .output();
    match run {
        Err(e) => eprintln!(
            "SKIPPED schema validation: kubernetes-validate not runnable ({e}); `pip install kubernetes-validate`"
        ),
        Ok(out) => assert!(
            out.status.success(),
            "kubernetes-validate failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}
