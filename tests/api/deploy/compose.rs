//! The Dockerfile, compose.yaml, nginx.conf and the env example, and the
//! variable names every deployment file sets.

use std::collections::BTreeSet;

use serde_json::Value;

use super::{configmap_data, k8s, port_of, read, str_of, yaml};

/// Every variable name `Config::from_map` reads (`v.get("X")`, `v.parse("X", ..)`,
/// `v.list("X")` in any file of `src/config/`), taken from the source so a
/// renamed variable fails this test.
fn config_variables() -> BTreeSet<String> {
    let mut files: Vec<_> = std::fs::read_dir(super::root().join("src/config"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "rs"))
        .collect();
    files.sort();
    let src: String = files.iter().map(|p| std::fs::read_to_string(p).unwrap()).collect();
    let is_ident = |c: char| c.is_alphanumeric() || c == '_';
    let mut names = BTreeSet::new();
    for call in [".get(\"", ".parse(\"", ".list(\""] {
        for (at, _) in src.match_indices(call) {
            // The receiver must be the `v` of `let v = Vars(..)` (possibly on the line above).
            let receiver = src[..at].trim_end();
            let is_v = receiver
                .strip_suffix('v')
                .is_some_and(|before| !before.ends_with(is_ident));
            if !is_v {
                continue;
            }
            let rest = &src[at + call.len()..];
            names.insert(rest[..rest.find('"').unwrap()].to_string());
        }
    }
    assert!(
        names.len() > 30 && names.contains("DATABASE_URL") && names.contains("BIND_ADDR"),
        "{names:?}"
    );
    names
}

/// Variables the deployment files use that are not tenantry's (the PostgreSQL and
/// MinIO images', and compose's own knobs).
const INFRA_VARIABLES: &[&str] = &[
    "POSTGRES_USER",
    "POSTGRES_PASSWORD",
    "POSTGRES_DB",
    "MINIO_ROOT_USER",
    "MINIO_ROOT_PASSWORD",
    "HTTP_PORT",
    "TENANTRY_IMAGE",
];

/// The Dockerfile's instructions, continuation lines joined, comments dropped.
fn dockerfile_instructions() -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in read("Dockerfile").lines().map(str::trim) {
        if line.starts_with('#') {
            continue;
        }
        match line.strip_suffix('\\') {
            Some(part) => {
                current.push_str(part);
                current.push(' ');
            }
            None => {
                current.push_str(line);
                let instruction = current.trim().to_string();
                current.clear();
                if !instruction.is_empty() {
                    out.push(instruction);
                }
            }
        }
    }
    out
}

/// Every variable set for tenantry anywhere (ConfigMap, manifests, compose, env
/// example, Dockerfile) is one the configuration reads.
#[test]
fn every_variable_the_deployment_sets_exists_in_the_config() {
    let known = config_variables();
    let mut unknown = Vec::new();
    let mut check = |origin: &str, name: &str| {
        if !known.contains(name) {
            unknown.push(format!("{origin}: {name}"));
        }
    };

    for key in configmap_data().keys() {
        check("configmap.yaml", key);
    }
    for file in ["deployment.yaml", "migrate-job.yaml"] {
        for c in k8s(file)["spec"]["template"]["spec"]["containers"].as_array().unwrap() {
            for env in c["env"].as_array().into_iter().flatten() {
                check(file, env["name"].as_str().unwrap());
            }
        }
    }

    let compose = yaml("compose.yaml");
    for (service, def) in compose["services"].as_object().unwrap() {
        if def["image"].as_str().is_some_and(|i| i.contains("TENANTRY_IMAGE")) {
            for name in def["environment"]
                .as_object()
                .expect("tenantry services list their environment")
                .keys()
            {
                check(&format!("compose.yaml service {service}"), name);
            }
        }
    }

    let example = read("deploy/compose.env.example");
    let example_names: BTreeSet<&str> = example
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            l.split_once('=')
                .unwrap_or_else(|| panic!("compose.env.example: `{l}` is not NAME=value"))
                .0
        })
        .collect();
    for name in &example_names {
        if !INFRA_VARIABLES.contains(name) {
            check("compose.env.example", name);
        }
    }

    let runtime = dockerfile_instructions()
        .into_iter()
        .rev()
        .take_while(|i| !i.starts_with("FROM "))
        .collect::<Vec<_>>();
    for env in runtime.iter().filter_map(|i| i.strip_prefix("ENV ")) {
        for pair in env.split_whitespace() {
            let name = pair.split_once('=').expect("ENV NAME=value").0;
            if !name.starts_with("MALLOC_") {
                // glibc tunables are the allocator's, not tenantry's.
                check("Dockerfile ENV", name);
            }
        }
    }
    assert!(
        unknown.is_empty(),
        "variables the configuration never reads:\n{}",
        unknown.join("\n")
    );

    // And every `${VAR}` compose interpolates without a default is in the example.
    let compose_text = read("compose.yaml");
    for (at, _) in compose_text.match_indices("${") {
        let expr = &compose_text[at + 2..at + compose_text[at..].find('}').unwrap()];
        let name = expr.split([':', '-', '?']).next().unwrap();
        if !expr.contains(":-") {
            assert!(
                example_names.contains(name),
                "compose.yaml uses ${{{name}}}, missing from compose.env.example"
            );
        }
    }
}

#[test]
fn compose_runs_migrate_once_then_two_instances_behind_nginx() {
    let compose = yaml("compose.yaml");
    let services = compose["services"].as_object().unwrap();
    let bind_port = |def: &Value| port_of(str_of(&def["environment"]["BIND_ADDR"], "BIND_ADDR"));

    assert_eq!(services["migrate"]["command"], serde_json::json!(["migrate"]));
    assert_eq!(services["postgres"]["image"], "postgres:16");
    assert!(str_of(&services["redis"]["image"], "redis image").starts_with("redis:7"));

    let apps: Vec<(&String, &Value)> = services
        .iter()
        .filter(|(_, d)| d["command"].get(0).and_then(Value::as_str) == Some("serve"))
        .collect();
    assert!(apps.len() >= 2, "two tenantry instances");
    let nginx = read("deploy/nginx.conf");
    for (name, def) in &apps {
        assert_eq!(
            def["depends_on"]["migrate"]["condition"], "service_completed_successfully",
            "{name}"
        );
        assert_eq!(
            def["environment"]["DATABASE_URL"],
            services["migrate"]["environment"]["DATABASE_URL"]
        );
        assert!(def["environment"]["REDIS_URL"].is_string(), "{name} shares Redis");
        let upstream = format!("server {name}:{} ", bind_port(def));
        assert!(nginx.contains(&upstream), "nginx.conf lacks `{upstream}`");
    }
    for dep in ["postgres", "redis", "mailpit", "minio", "nginx"] {
        assert!(services.contains_key(dep), "compose lacks {dep}");
    }

    // The image serves on the port the instances bind, checks /health, runs as non-root.
    let dockerfile = read("Dockerfile");
    let expose = dockerfile
        .lines()
        .find_map(|l| l.strip_prefix("EXPOSE "))
        .expect("EXPOSE");
    assert_eq!(expose.trim().parse::<u16>().unwrap(), bind_port(apps[0].1));
    assert!(
        dockerfile.contains(&format!("127.0.0.1:{expose}/health")),
        "HEALTHCHECK on /health"
    );
    let user = dockerfile
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("USER "))
        .expect("USER");
    assert!(!user.starts_with("root") && !user.starts_with('0'), "runs as non-root");
    assert!(dockerfile.contains(r#"ENTRYPOINT ["tenantry"]"#) && dockerfile.contains(r#"CMD ["serve"]"#));
    for secret in ["SECRET_KEY", "PASSWORD", "DATABASE_URL"] {
        assert!(
            !dockerfile.lines().any(|l| l.contains(secret) && l.contains('=')),
            "{secret} baked into the image"
        );
    }
}
