//! The one email-address rule: every path that stores or compares a user's
//! address (account creation, invitations, SCIM, a new tenant's first admin)
//! parses it here, so they cannot disagree on what is valid.

use std::fmt;

use crate::http::error::Validator;

/// The answer for an address [`Email::parse`] refuses.
pub const INVALID_EMAIL: &str = "must be a valid email address";

/// A syntactically valid email address, trimmed and lower-cased.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    /// Trims and lower-cases `raw`, then checks what the `users.email` CHECK
    /// constraint checks and a little more: at most 254 bytes, exactly one
    /// `@` with a non-empty local part, a domain of two or more non-empty
    /// labels, no whitespace or control characters (CR/LF would forge mail
    /// headers and log lines).
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let email = raw.trim().to_lowercase();
        let ok = email.len() <= 254
            && email.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty()
                    && !domain.contains('@')
                    && domain.split('.').count() >= 2
                    && domain.split('.').all(|label| !label.is_empty())
            })
            && !email.chars().any(|c| c.is_whitespace() || c.is_control());
        if ok { Ok(Self(email)) } else { Err(INVALID_EMAIL) }
    }

    /// [`Email::parse`], recording a refusal on `field` of `v` (a 422 once the
    /// caller finishes the validator).
    pub fn parse_field(v: &mut Validator, field: &str, raw: &str) -> Option<Self> {
        Self::parse(raw).map_err(|msg| v.push(field, msg)).ok()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for Email {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::Email;

    #[test]
    fn parse_normalises_and_accepts_ordinary_addresses() {
        let e = Email::parse("  Ada.Lovelace+x@Example.CO.uk ").unwrap();
        assert_eq!(e.as_str(), "ada.lovelace+x@example.co.uk");
    }

    #[test]
    fn parse_refuses_what_either_old_validator_refused() {
        for bad in [
            "",
            "plain",
            "@example.com",
            "a@b",
            "a@.example.com",
            "a@example.com.",
            "a@example..com",
            "a@b@example.com",
            "a b@example.com",
            "a\u{7}@example.com",
            "a@exa\nmple.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} accepted");
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert!(Email::parse(&long).is_err());
    }
}
