//! Unit tests of the configuration: defaults, derived URLs and refusals.

use super::*;

fn cfg(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
    Config::from_map(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
}

#[test]
fn defaults_work_in_development() {
    let c = cfg(&[]).unwrap();
    assert_eq!(c.bind_addr.to_string(), "127.0.0.1:8000");
    assert_eq!(c.max_failed_logins, 5);
    assert_eq!(c.lockout_seconds, 30 * 60);
}

#[test]
fn base_url_follows_bind_addr_unless_set() {
    assert_eq!(
        cfg(&[("BIND_ADDR", "127.0.0.1:8091")]).unwrap().base_url,
        "http://127.0.0.1:8091"
    );
    assert_eq!(
        cfg(&[("BIND_ADDR", "0.0.0.0:9000")]).unwrap().base_url,
        "http://127.0.0.1:9000"
    );
    let c = cfg(&[("BIND_ADDR", "0.0.0.0:9000"), ("BASE_URL", "https://api.example.com/")]).unwrap();
    assert_eq!(c.base_url, "https://api.example.com");
    assert_eq!(
        c.frontend_url, "https://api.example.com",
        "FRONTEND_URL defaults to BASE_URL"
    );
}

#[test]
fn storage_lives_under_the_data_dir_by_default() {
    assert_eq!(
        cfg(&[("TENANTRY_DATA_DIR", "/srv/t")]).unwrap().storage_path,
        "/srv/t/storage"
    );
    assert_eq!(cfg(&[]).unwrap().storage_path, ".data/storage");
}

#[test]
fn production_requires_a_long_secret_key() {
    let db = ("DATABASE_URL", "postgres://db.internal/tenantry");
    let err = cfg(&[("ENVIRONMENT", "production"), db]).unwrap_err();
    assert_eq!(err.var, "SECRET_KEY");
    let err = cfg(&[("ENVIRONMENT", "production"), db, ("SECRET_KEY", "short")]).unwrap_err();
    assert_eq!(err.var, "SECRET_KEY");
}

#[test]
fn rejects_asymmetric_or_none_algorithms() {
    assert_eq!(cfg(&[("ALGORITHM", "none")]).unwrap_err().var, "ALGORITHM");
    assert_eq!(cfg(&[("ALGORITHM", "RS256")]).unwrap_err().var, "ALGORITHM");
}

#[test]
fn secrets_do_not_print() {
    let c = cfg(&[("SECRET_KEY", "0123456789abcdef0123456789abcdef-secret")]).unwrap();
    assert!(!format!("{c:?}").contains("0123456789abcdef"));
}

#[test]
fn a_core_is_left_to_a_postgresql_on_this_machine() {
    for local in [
        None,
        Some("postgres://u@127.0.0.1:5432/db"),
        Some("postgres://u@localhost/db"),
        Some("postgres://u@[::1]/db"),
        Some("postgres:///db?host=/var/run/postgresql"),
    ] {
        assert_eq!(default_worker_threads(local, 2), 1, "{local:?}");
        assert_eq!(default_worker_threads(local, 8), 7, "{local:?}");
        assert_eq!(default_worker_threads(local, 1), 1, "{local:?}");
    }
    for remote in [
        "postgres://u@db.internal/db",
        "postgres://u@10.0.0.5:6432/db",
        "postgres://u@127.0.0.1/db?host=db.internal",
    ] {
        assert_eq!(default_worker_threads(Some(remote), 2), 2, "{remote}");
    }
}
