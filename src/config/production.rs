//! What production refuses and what development warns about.
//!
//! Decisions:
//! - The production checks read the raw variables before anything else is parsed,
//!   in one place and in a fixed order, so a bad deployment stops with one line
//!   naming the first unsafe variable before anything is bound or connected.
//! - Development keeps its convenient defaults (embedded cluster, log email,
//!   derived encryption key, http URLs) but names each one at start-up, so
//!   nobody ships them by accident.

use super::vars::{ConfigError, Vars};

/// The shortest key accepted for SECRET_KEY, ENCRYPTION_KEY and their previous values.
pub const MIN_KEY_BYTES: usize = 32;

/// Refuses an unsafe production configuration; `Err` names the variable.
pub(super) fn refuse_unsafe(v: &Vars) -> Result<(), ConfigError> {
    if v.get("DATABASE_URL").is_none() {
        return Err(v.bad(
            "DATABASE_URL",
            "is required in production (the embedded cluster is for development only)".into(),
        ));
    }
    let secret = key(v, "SECRET_KEY")?;
    let encryption = key(v, "ENCRYPTION_KEY")?;
    if secret == encryption {
        return Err(v.bad("ENCRYPTION_KEY", "must differ from SECRET_KEY in production".into()));
    }
    if v.get("WEBHOOK_ALLOW_PRIVATE")
        .is_some_and(|x| x.trim().eq_ignore_ascii_case("true"))
    {
        return Err(v.bad(
            "WEBHOOK_ALLOW_PRIVATE",
            "must not be true in production (webhooks could reach the internal network)".into(),
        ));
    }
    match v.get("EMAIL_PROVIDER").as_deref().unwrap_or("log") {
        "log" => {
            return Err(v.bad(
                "EMAIL_PROVIDER",
                "must be ses or smtp in production (log never delivers email)".into(),
            ));
        }
        "ses" if v.list("SNS_TOPIC_ARNS").is_empty() => {
            return Err(v.bad(
                "SNS_TOPIC_ARNS",
                "is required with EMAIL_PROVIDER=ses in production (the SNS topics whose bounces and complaints are accepted)"
                    .into(),
            ));
        }
        _ => {}
    }
    let base_url = v.get("BASE_URL");
    https(v, "BASE_URL", base_url.as_deref())?;
    // FRONTEND_URL defaults to BASE_URL.
    https(v, "FRONTEND_URL", v.get("FRONTEND_URL").or(base_url).as_deref())?;
    Ok(())
}

fn key(v: &Vars, var: &'static str) -> Result<String, ConfigError> {
    match v.get(var) {
        None => Err(v.bad(var, "is required in production".into())),
        Some(k) if k.len() < MIN_KEY_BYTES => Err(v.bad(var, "must be at least 32 bytes in production".into())),
        Some(k) => Ok(k),
    }
}

fn https(v: &Vars, var: &'static str, url: Option<&str>) -> Result<(), ConfigError> {
    match url {
        Some(u) if u.starts_with("https://") => Ok(()),
        Some(u) => Err(v.bad(var, format!("must be an https URL in production, not `{u}`"))),
        None => Err(v.bad(var, "must be set to an https URL in production".into())),
    }
}

/// One line per unsafe development default in use (printed by `serve`).
pub(super) fn unsafe_defaults(v: &Vars, base_url: &str, frontend_url: &str) -> Vec<String> {
    let mut lines = Vec::new();
    if v.get("DATABASE_URL").is_none() {
        lines.push(
            "DATABASE_URL is unset: using the embedded PostgreSQL cluster (trust authentication, development only)"
                .into(),
        );
    }
    if v.get("SECRET_KEY").is_none() {
        lines.push("SECRET_KEY is unset: access tokens are signed with the public development key".into());
    }
    if v.get("ENCRYPTION_KEY").is_none() {
        lines.push(
            "ENCRYPTION_KEY is unset: secrets at rest are sealed with a key derived from SECRET_KEY (production requires its own key)"
                .into(),
        );
    }
    if v.get("EMAIL_PROVIDER").as_deref().unwrap_or("log") == "log" {
        lines.push("EMAIL_PROVIDER is log: emails are written to the server log and NEVER SENT".into());
    }
    for (var, url) in [("BASE_URL", base_url), ("FRONTEND_URL", frontend_url)] {
        if !url.starts_with("https://") {
            lines.push(format!("{var} is not https (`{url}`): production refuses it"));
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use crate::config::{Config, ConfigError, EmailProvider};

    const SECRET: &str = "prod-secret-key-0123456789abcdef0123456789";
    const ENCRYPTION: &str = "prod-encryption-key-0123456789abcdef012345";

    /// A complete, safe production configuration.
    fn good() -> Vec<(&'static str, &'static str)> {
        vec![
            ("ENVIRONMENT", "production"),
            ("DATABASE_URL", "postgres://tenantry@db.internal/tenantry"),
            ("SECRET_KEY", SECRET),
            ("ENCRYPTION_KEY", ENCRYPTION),
            ("EMAIL_PROVIDER", "ses"),
            ("SNS_TOPIC_ARNS", "arn:aws:sns:eu-central-1:123456789012:ses-events"),
            ("BASE_URL", "https://api.example.com"),
            ("FRONTEND_URL", "https://app.example.com"),
        ]
    }

    /// `good()` with `changes` applied (`None` removes the variable).
    fn with(changes: &[(&str, Option<&str>)]) -> Result<Config, ConfigError> {
        let mut vars: std::collections::HashMap<String, String> =
            good().into_iter().map(|(k, v)| (k.into(), v.into())).collect();
        for (k, v) in changes {
            match v {
                Some(v) => vars.insert(k.to_string(), v.to_string()),
                None => vars.remove(*k),
            };
        }
        Config::from_map(vars)
    }

    fn refused(changes: &[(&str, Option<&str>)]) -> &'static str {
        with(changes).expect_err("must be refused").var
    }

    #[test]
    fn a_good_production_configuration_passes_with_hsts_on() {
        let c = with(&[]).unwrap();
        assert!(c.is_production() && c.hsts);
        assert_eq!(c.email_provider, EmailProvider::Ses);
        assert!(c.unsafe_defaults.is_empty());
        // HSTS can still be turned off explicitly; FRONTEND_URL defaults to BASE_URL.
        assert!(!with(&[("HSTS", Some("false")), ("FRONTEND_URL", None)]).unwrap().hsts);
        let smtp = with(&[
            ("EMAIL_PROVIDER", Some("smtp")),
            ("SMTP_HOST", Some("smtp.example.com")),
        ]);
        assert_eq!(smtp.unwrap().email_provider, EmailProvider::Smtp);
    }

    #[test]
    fn each_unsafe_production_setting_is_refused_naming_its_variable() {
        assert_eq!(refused(&[("DATABASE_URL", None)]), "DATABASE_URL");
        assert_eq!(refused(&[("SECRET_KEY", None)]), "SECRET_KEY");
        assert_eq!(refused(&[("SECRET_KEY", Some("too-short"))]), "SECRET_KEY");
        assert_eq!(refused(&[("ENCRYPTION_KEY", None)]), "ENCRYPTION_KEY");
        assert_eq!(refused(&[("ENCRYPTION_KEY", Some("too-short"))]), "ENCRYPTION_KEY");
        assert_eq!(refused(&[("ENCRYPTION_KEY", Some(SECRET))]), "ENCRYPTION_KEY");
        assert_eq!(refused(&[("EMAIL_PROVIDER", Some("log"))]), "EMAIL_PROVIDER");
        assert_eq!(refused(&[("EMAIL_PROVIDER", None)]), "EMAIL_PROVIDER");
        assert_eq!(refused(&[("SNS_TOPIC_ARNS", None)]), "SNS_TOPIC_ARNS");
        assert_eq!(refused(&[("BASE_URL", Some("http://api.example.com"))]), "BASE_URL");
        assert_eq!(refused(&[("BASE_URL", None)]), "BASE_URL");
        assert_eq!(
            refused(&[("FRONTEND_URL", Some("http://app.example.com"))]),
            "FRONTEND_URL"
        );
    }

    #[test]
    fn development_names_every_unsafe_default_it_uses() {
        let c = Config::from_map(Default::default()).unwrap();
        let vars: Vec<&str> = c
            .unsafe_defaults
            .iter()
            .map(|l| l.split_whitespace().next().unwrap())
            .collect();
        assert_eq!(
            vars,
            [
                "DATABASE_URL",
                "SECRET_KEY",
                "ENCRYPTION_KEY",
                "EMAIL_PROVIDER",
                "BASE_URL",
                "FRONTEND_URL"
            ]
        );
        assert!(!c.hsts);
    }

    #[test]
    fn previous_keys_are_parsed_and_checked() {
        let c = with(&[
            ("SECRET_KEY_PREVIOUS", Some("an-older-secret-key-0123456789abcdef0123")),
            ("ENCRYPTION_KEY_ID", Some("k3")),
            (
                "ENCRYPTION_KEYS_PREVIOUS",
                Some("k1:first-key-0123456789abcdef0123456789:x, k2:second-key-0123456789abcdef0123456789"),
            ),
        ])
        .unwrap();
        assert!(c.secret_key_previous.is_some());
        let ids: Vec<&str> = c.encryption_keys_previous.iter().map(|(i, _)| i.as_str()).collect();
        assert_eq!(ids, ["k1", "k2"]);
        // A key may contain ':' (split at the first one).
        assert_eq!(
            c.encryption_keys_previous[0].1.expose(),
            "first-key-0123456789abcdef0123456789:x"
        );

        let long = "another-key-0123456789abcdef0123456789";
        assert_eq!(
            refused(&[("SECRET_KEY_PREVIOUS", Some("short"))]),
            "SECRET_KEY_PREVIOUS"
        );
        assert_eq!(refused(&[("SECRET_KEY_PREVIOUS", Some(SECRET))]), "SECRET_KEY_PREVIOUS");
        for bad in ["nokey", "k2:short", ":0123456789abcdef0123456789abcdef"] {
            assert_eq!(
                refused(&[("ENCRYPTION_KEYS_PREVIOUS", Some(bad))]),
                "ENCRYPTION_KEYS_PREVIOUS"
            );
        }
        let same_id = format!("k1:{long}");
        assert_eq!(
            refused(&[("ENCRYPTION_KEYS_PREVIOUS", Some(&same_id))]),
            "ENCRYPTION_KEYS_PREVIOUS"
        );
        assert_eq!(refused(&[("ENCRYPTION_KEY_ID", Some("a b"))]), "ENCRYPTION_KEY_ID");
    }
}
