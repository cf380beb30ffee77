//! Email rendering: minijinja templates embedded from `templates/email/`, one
//! HTML and one plain-text version per kind, sharing a layout per format.
//!
//! HTML templates auto-escape every value (their names end in `.html`); the
//! plain-text ones do not need to. Undefined values fail loudly, and
//! [`Templates::new`] renders every template once with a sample context, so a
//! broken template stops start-up instead of a send.

use minijinja::{Environment, UndefinedBehavior, value::Serde};
use serde_json::{Map, Value};

use super::kind::EmailTemplate;

/// The template files, compiled into the binary.
const SOURCES: &[(&str, &str)] = &[
    ("layout.html", include_str!("../../templates/email/layout.html")),
    ("layout.txt", include_str!("../../templates/email/layout.txt")),
    ("welcome.html", include_str!("../../templates/email/welcome.html")),
    ("welcome.txt", include_str!("../../templates/email/welcome.txt")),
    (
        "password_reset.html",
        include_str!("../../templates/email/password_reset.html"),
    ),
    (
        "password_reset.txt",
        include_str!("../../templates/email/password_reset.txt"),
    ),
    (
        "email_verification.html",
        include_str!("../../templates/email/email_verification.html"),
    ),
    (
        "email_verification.txt",
        include_str!("../../templates/email/email_verification.txt"),
    ),
    ("invitation.html", include_str!("../../templates/email/invitation.html")),
    ("invitation.txt", include_str!("../../templates/email/invitation.txt")),
    (
        "security_alert.html",
        include_str!("../../templates/email/security_alert.html"),
    ),
    (
        "security_alert.txt",
        include_str!("../../templates/email/security_alert.txt"),
    ),
    (
        "webhook_disabled.html",
        include_str!("../../templates/email/webhook_disabled.html"),
    ),
    (
        "webhook_disabled.txt",
        include_str!("../../templates/email/webhook_disabled.txt"),
    ),
];

/// A message ready to hand to a provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedEmail {
    pub subject: String,
    pub html: String,
    pub text: String,
}

/// Who the message is for and in which tenant; the common render keys.
#[derive(Debug, Clone)]
pub struct Recipient<'a> {
    pub to_email: &'a str,
    pub tenant_name: &'a str,
    pub tenant_slug: &'a str,
}

/// The parsed templates plus the branding every message shares.
pub struct Templates {
    env: Environment<'static>,
    app_name: String,
    frontend_url: String,
}

impl std::fmt::Debug for Templates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Templates")
            .field("app_name", &self.app_name)
            .finish_non_exhaustive()
    }
}

impl Templates {
    /// Parses every template and test-renders each kind with its sample context.
    pub fn new(app_name: &str, frontend_url: &str) -> Result<Self, minijinja::Error> {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::SemiStrict);
        for (name, source) in SOURCES {
            env.add_template(name, source)?;
        }
        let templates = Self {
            env,
            app_name: app_name.to_string(),
            frontend_url: frontend_url.trim_end_matches('/').to_string(),
        };
        let sample = Recipient {
            to_email: "ada@example.com",
            tenant_name: "Example Corp",
            tenant_slug: "example",
        };
        for kind in EmailTemplate::ALL {
            let rendered = templates.render(kind, &sample, &kind.sample_context())?;
            if rendered.subject.is_empty() || rendered.html.is_empty() || rendered.text.is_empty() {
                return Err(minijinja::Error::new(
                    minijinja::ErrorKind::InvalidOperation,
                    format!("template {kind} renders an empty subject or body"),
                ));
            }
        }
        Ok(templates)
    }

    /// Renders subject, HTML and text of `kind` for `to` with the caller's context.
    pub fn render(
        &self,
        kind: EmailTemplate,
        to: &Recipient<'_>,
        context: &Value,
    ) -> Result<RenderedEmail, minijinja::Error> {
        let ctx = minijinja::Value::from(Serde(self.context(kind, to, context)));
        let html = self
            .env
            .get_template(&format!("{}.html", kind.as_str()))?
            .render(ctx.clone())?;
        let mut captured = self
            .env
            .get_template(&format!("{}.txt", kind.as_str()))?
            .render_captured(ctx)?;
        let subject = captured.with_state_mut(|state| state.render_block("subject"))?;
        Ok(RenderedEmail {
            subject: subject.split_whitespace().collect::<Vec<_>>().join(" "),
            html: tidy(&html),
            text: tidy(captured.output()),
        })
    }

    /// The caller's keys plus the common ones (which callers cannot override).
    fn context(&self, kind: EmailTemplate, to: &Recipient<'_>, context: &Value) -> Value {
        let mut map: Map<String, Value> = context.as_object().cloned().unwrap_or_default();
        let token = map
            .get("token")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .map(str::to_string);
        let explicit_link = map
            .get("link")
            .and_then(Value::as_str)
            .filter(|l| l.starts_with("https://") || l.starts_with("http://"))
            .map(str::to_string);
        let link = explicit_link.unwrap_or_else(|| self.link(kind, to.tenant_slug, token.as_deref()));
        if kind == EmailTemplate::Welcome && !map.contains_key("set_password") {
            map.insert("set_password".into(), Value::Bool(token.is_some()));
        }
        let event = map
            .get("event")
            .and_then(Value::as_str)
            .filter(|_| kind == EmailTemplate::SecurityAlert);
        if let Some(description) =
            event.map(|e| describe_security_event(e, map.get("locked_minutes").and_then(Value::as_i64)))
        {
            map.insert("event_description".into(), Value::String(description));
        }
        map.remove("token");
        // A lockout alert's one-time unlock link (`/unlock?token=`), beside the main link.
        let unlock = map
            .remove("unlock_token")
            .filter(|_| kind == EmailTemplate::SecurityAlert);
        if let Some(token) = unlock.as_ref().and_then(Value::as_str).filter(|t| !t.is_empty()) {
            map.insert("unlock_link".into(), Value::String(self.unlock_link(token)));
        }
        map.insert("link".into(), Value::String(link));
        map.insert("app_name".into(), Value::String(self.app_name.clone()));
        map.insert("tenant_name".into(), Value::String(to.tenant_name.to_string()));
        map.insert("tenant_slug".into(), Value::String(to.tenant_slug.to_string()));
        map.insert("frontend_url".into(), Value::String(self.frontend_url.clone()));
        map.insert("to_email".into(), Value::String(to.to_email.to_string()));
        Value::Object(map)
    }

    /// The console page that ends a lock with a one-time token.
    fn unlock_link(&self, token: &str) -> String {
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("token", token)
            .finish();
        format!("{}/unlock?{query}", self.frontend_url)
    }

    /// The frontend link of a message: the token's page, else sign-in or security.
    fn link(&self, kind: EmailTemplate, tenant_slug: &str, token: Option<&str>) -> String {
        let query = |key: &str, value: &str| {
            form_urlencoded::Serializer::new(String::new())
                .append_pair(key, value)
                .finish()
        };
        match (kind, token) {
            (EmailTemplate::SecurityAlert, _) => format!("{}/security", self.frontend_url),
            (_, Some(token)) => format!("{}/{}?{}", self.frontend_url, kind.token_path(), query("token", token)),
            (_, None) => format!("{}/login?{}", self.frontend_url, query("tenant", tenant_slug)),
        }
    }
}

/// One sentence for a security event code (both formats print it, each escaping
/// as its format needs).
fn describe_security_event(event: &str, locked_minutes: Option<i64>) -> String {
    match event {
        "account_locked" => match locked_minutes {
            Some(m) => {
                format!("Your account was locked after too many failed sign-in attempts and unlocks in {m} minutes.")
            }
            None => "Your account was locked after too many failed sign-in attempts.".into(),
        },
        "password_changed" => "The password of your account was changed.".into(),
        "password_reset" => "The password of your account was reset.".into(),
        "mfa_enabled" => "Two-factor authentication was turned on for your account.".into(),
        "mfa_disabled" => "Two-factor authentication was turned off for your account.".into(),
        "new_sign_in" => "There was a new sign-in to your account.".into(),
        "account_unlocked" => "Your account was unlocked.".into(),
        "impersonation_started" => "A platform administrator started acting as you in your account.".into(),
        other => format!("A security-relevant change was made to your account ({other})."),
    }
}

/// Trims trailing spaces and collapses runs of blank lines left by template tags.
fn tidy(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut blank = 0;
    for line in s.trim().lines().map(str::trim_end) {
        blank = if line.is_empty() { blank + 1 } else { 0 };
        if blank <= 1 {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn templates() -> Templates {
        Templates::new("Tenantry", "https://app.example.com/").expect("templates render")
    }

    const TO: Recipient<'static> = Recipient {
        to_email: "ada@example.com",
        tenant_name: "Acme <Labs> & Co",
        tenant_slug: "acme",
    };

    #[test]
    fn every_template_renders_in_both_forms() {
        let t = templates();
        for kind in EmailTemplate::ALL {
            let r = t.render(kind, &TO, &kind.sample_context()).unwrap();
            assert!(
                !r.subject.is_empty() && !r.subject.contains('\n'),
                "{kind}: {}",
                r.subject
            );
            assert!(r.html.starts_with("<!DOCTYPE html>"), "{kind}");
            assert!(r.html.contains("Tenantry") && r.text.contains("Tenantry"), "{kind}");
            assert!(
                !r.text.contains("<p") && !r.text.contains("<a "),
                "{kind} text has markup: {}",
                r.text
            );
            assert!(r.text.contains("https://app.example.com/"), "{kind} text has no link");
        }
    }

    #[test]
    fn html_escapes_user_values_and_text_keeps_them() {
        let t = templates();
        let evil = "<script>alert(1)</script>";
        let r = t
            .render(
                EmailTemplate::Invitation,
                &TO,
                &json!({"token": "a&b", "inviter_name": evil}),
            )
            .unwrap();
        assert!(!r.html.contains("<script>"), "{}", r.html);
        assert!(
            r.html.contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;"),
            "{}",
            r.html
        );
        assert!(r.html.contains("Acme &lt;Labs&gt; &amp; Co"));
        assert!(r.text.contains(evil));
        assert!(r.text.contains("Acme <Labs> & Co"));
        assert!(r.subject.contains("Acme <Labs> & Co"));
        // The token is URL-encoded into the link.
        assert!(
            r.text.contains("https://app.example.com/accept-invitation?token=a%26b"),
            "{}",
            r.text
        );

        let alert = json!({"event": evil, "first_name": evil});
        let r = t.render(EmailTemplate::SecurityAlert, &TO, &alert).unwrap();
        assert!(!r.html.contains("<script>"), "{}", r.html);
        assert!(r.text.contains(evil));
    }

    #[test]
    fn links_come_from_the_frontend_url() {
        let t = templates();
        let r = t
            .render(EmailTemplate::PasswordReset, &TO, &json!({"token": "tok"}))
            .unwrap();
        assert!(r.text.contains("https://app.example.com/reset-password?token=tok"));
        let r = t
            .render(EmailTemplate::Welcome, &TO, &json!({"first_name": "Ada"}))
            .unwrap();
        assert!(
            r.text.contains("https://app.example.com/login?tenant=acme"),
            "{}",
            r.text
        );
        assert!(r.text.contains("Sign in"));
        let r = t.render(EmailTemplate::Welcome, &TO, &json!({"token": "set"})).unwrap();
        assert!(r.text.contains("https://app.example.com/set-password?token=set"));
        assert!(r.text.contains("Set your password"));
        let r = t
            .render(
                EmailTemplate::EmailVerification,
                &TO,
                &json!({"link": "https://other/verify?x=1"}),
            )
            .unwrap();
        assert!(r.text.contains("https://other/verify?x=1"));
    }

    #[test]
    fn a_lockout_alert_carries_the_unlock_link() {
        let t = templates();
        let alert = json!({"event": "account_locked", "locked_minutes": 30, "unlock_token": "u&v"});
        let r = t.render(EmailTemplate::SecurityAlert, &TO, &alert).unwrap();
        assert!(
            r.text.contains("https://app.example.com/unlock?token=u%26v"),
            "{}",
            r.text
        );
        assert!(r.html.contains("unlock?token=u%26v"), "{}", r.html);
        let other = json!({"event": "password_changed"});
        let r = t.render(EmailTemplate::SecurityAlert, &TO, &other).unwrap();
        assert!(!r.text.contains("/unlock"), "{}", r.text);
    }

    #[test]
    fn a_disabled_webhook_mail_names_the_endpoint_the_error_and_how_to_re_enable() {
        let t = templates();
        let ctx = json!({"endpoint_url": "https://hooks.acme.test/in?a=1&b=<2>", "endpoint_id": "e-1",
            "last_error": "the endpoint answered 503"});
        let r = t.render(EmailTemplate::WebhookDisabled, &TO, &ctx).unwrap();
        assert!(r.subject.contains("Webhook endpoint disabled"), "{}", r.subject);
        for text in [&r.text, &r.html] {
            assert!(text.contains("the endpoint answered 503"), "{text}");
            assert!(text.contains("PUT /api/v1/webhooks/e-1"), "{text}");
            assert!(text.contains("\"enabled\": true"), "{text}");
        }
        assert!(r.text.contains("https://hooks.acme.test/in?a=1&b=<2>"), "{}", r.text);
        assert!(
            r.html.contains("hooks.acme.test") && r.html.contains("a=1&amp;b=&lt;2&gt;"),
            "{}",
            r.html
        );
        assert!(!r.text.contains("Security alert") && !r.text.contains("reset your password"));
        let without_error = json!({"endpoint_url": "https://x.test/", "endpoint_id": "e-1"});
        let r = t.render(EmailTemplate::WebhookDisabled, &TO, &without_error).unwrap();
        assert!(!r.text.contains("Last error"), "{}", r.text);
    }

    #[test]
    fn a_missing_required_value_fails() {
        let t = templates();
        // `event` is printed unconditionally by the fallback branch.
        assert!(t.render(EmailTemplate::SecurityAlert, &TO, &json!({})).is_err());
    }

    #[test]
    fn tidy_collapses_blank_lines() {
        assert_eq!(tidy("\n a  \n\n\n\nb\n\n"), "a\n\nb\n");
    }
}
