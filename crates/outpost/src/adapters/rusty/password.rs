//! The configured password hash: bcrypt (the `$2b$`/`$2y$` hashes of rusty_agent's
//! `user_creds`, so operators keep them) or argon2id.

use std::fmt;

#[derive(Clone)]
pub enum PasswordHash {
    Bcrypt(String),
    Argon2id(String),
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PasswordHash::Bcrypt(_) => f.write_str("PasswordHash::Bcrypt(<redacted>)"),
            PasswordHash::Argon2id(_) => f.write_str("PasswordHash::Argon2id(<redacted>)"),
        }
    }
}

impl PasswordHash {
    /// Checks the hash's form once, at load, so a request never meets a hash that cannot
    /// verify anything. The message never quotes the hash.
    pub fn parse(text: &str) -> Result<PasswordHash, String> {
        let text = text.trim();
        if text.starts_with("$2b$") || text.starts_with("$2y$") || text.starts_with("$2a$") {
            // `$2x$CC$` + 53 characters of salt and digest.
            let ok = text.len() == 60
                && text.as_bytes()[4..6].iter().all(u8::is_ascii_digit)
                && text.as_bytes()[6] == b'$';
            if !ok {
                return Err("not a bcrypt hash: expected $2b$CC$ and 53 characters".into());
            }
            return Ok(PasswordHash::Bcrypt(text.to_owned()));
        }
        if text.starts_with("$argon2id$") {
            let parsed = argon2::PasswordHash::new(text)
                .map_err(|e| format!("not a valid argon2id hash: {e}"))?;
            argon2::Params::try_from(&parsed).map_err(|e| format!("argon2id parameters: {e}"))?;
            if parsed.salt.is_none() || parsed.hash.is_none() {
                return Err("not a valid argon2id hash: no salt or no hash".into());
            }
            return Ok(PasswordHash::Argon2id(text.to_owned()));
        }
        Err("expected a bcrypt ($2b$/$2y$) or argon2id ($argon2id$) hash".into())
    }

    /// Whether `password` matches. Both libraries compare their digests in constant time.
    /// Slow by design (bcrypt's cost, argon2's memory): callers run it off the async threads.
    pub fn verify(&self, password: &str) -> bool {
        match self {
            PasswordHash::Bcrypt(h) => bcrypt::verify(password, h).unwrap_or(false),
            PasswordHash::Argon2id(h) => {
                use argon2::PasswordVerifier as _;
                let Ok(parsed) = argon2::PasswordHash::new(h) else {
                    return false;
                };
                argon2::Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::PasswordHash;

    #[test]
    fn issue13_rusty_password_hashes_verify_and_bad_ones_are_refused_at_load() {
        let b = bcrypt::hash("Pass", 4).unwrap();
        let h = PasswordHash::parse(&b).unwrap();
        assert!(h.verify("Pass"));
        assert!(!h.verify("pass"));
        assert!(PasswordHash::parse("Pass").is_err());
        assert!(PasswordHash::parse("$2b$10$short").is_err());
        assert!(PasswordHash::parse("$argon2id$nonsense").is_err());
        assert!(!format!("{h:?}").contains(&b[7..]));
    }
}
