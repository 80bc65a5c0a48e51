//! Usernames and e-mail addresses as accounts accept them (API.md §2).

use super::AuthError;

/// The longest username, in characters.
const MAX_USERNAME_CHARS: usize = 150;
/// The longest address (RFC 5321's path limit), in bytes.
const MAX_EMAIL_BYTES: usize = 254;

pub fn validate_username(name: &str) -> Result<(), AuthError> {
    let chars = name.chars().count();
    if !(3..=MAX_USERNAME_CHARS).contains(&chars) {
        return Err(AuthError::invalid(
            "username",
            "The username must have 3 to 150 characters.",
        ));
    }
    if !name.chars().all(|c| c.is_alphanumeric() || "@.+-_".contains(c)) {
        return Err(AuthError::invalid(
            "username",
            "The username may contain only letters, digits and @ . + - _.",
        ));
    }
    Ok(())
}

/// A deliberately light check: one `@` with text on both sides and a dot in the
/// domain. Real proof of an address is a confirmation mail, not a regex.
pub fn validate_email(email: &str) -> Result<(), AuthError> {
    let valid = email.len() <= MAX_EMAIL_BYTES
        && !email.chars().any(char::is_whitespace)
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains('@')
        });
    if valid {
        Ok(())
    } else {
        Err(AuthError::invalid("email", "Enter a valid e-mail address."))
    }
}

/// Whether some account could have this name: lookups of anything else are
/// answered without asking the store.
pub fn could_be_username(name: &str) -> bool {
    validate_username(name).is_ok()
}

/// Whether some account could have this address.
pub fn could_be_email(email: &str) -> bool {
    email.len() <= MAX_EMAIL_BYTES
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        assert!(validate_username("al").is_err());
        assert!(validate_username("alice").is_ok());
        assert!(validate_username("a.l+i-c_e@x").is_ok());
        assert!(validate_username("zoë").is_ok());
        assert!(validate_username("bad name").is_err());
        assert!(validate_username("semi;colon").is_err());
        assert!(validate_username(&"a".repeat(151)).is_err());
    }

    #[test]
    fn emails() {
        assert!(validate_email("a@b.co").is_ok());
        assert!(validate_email("a@b").is_err());
        assert!(validate_email("@b.co").is_err());
        assert!(validate_email("a b@c.de").is_err());
        assert!(validate_email("a@@b.co").is_err());
    }
}
