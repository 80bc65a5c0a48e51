//! Usernames and e-mail addresses as accounts accept them (API.md §2).

use super::AuthError;

pub fn validate_username(name: &str) -> Result<(), AuthError> {
    let chars = name.chars().count();
    if !(3..=150).contains(&chars) {
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
    let valid = email.len() <= 254
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
