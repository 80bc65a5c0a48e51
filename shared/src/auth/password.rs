//! Argon2id hashing, always on a blocking thread: a hash costs tens of milliseconds
//! of CPU, which would stall every other request on the async runtime.

use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use std::sync::OnceLock;

use crate::error::ApiError;

pub const MIN_PASSWORD_CHARS: usize = 8;
/// Argon2 reads every byte; a cap keeps a huge password from being a cheap DoS.
pub const MAX_PASSWORD_CHARS: usize = 1024;

pub fn validate(password: &str, field: &str) -> Result<(), ApiError> {
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        return Err(ApiError::invalid_field(
            field,
            format!("The password must have at least {MIN_PASSWORD_CHARS} characters."),
        ));
    }
    if chars > MAX_PASSWORD_CHARS {
        return Err(ApiError::invalid_field(
            field,
            format!("The password must have at most {MAX_PASSWORD_CHARS} characters."),
        ));
    }
    Ok(())
}

pub async fn hash(password: String) -> Result<String, ApiError> {
    tokio::task::spawn_blocking(move || hash_now(&password))
        .await
        .map_err(ApiError::internal)?
}

fn hash_now(password: &str) -> Result<String, ApiError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(ApiError::internal)
}

/// Checks `password` against `stored`; with no stored hash (unknown user) it checks
/// against a fixed dummy hash, so the answer takes as long either way and timing
/// does not reveal which usernames exist.
pub async fn verify(password: String, stored: Option<String>) -> Result<bool, ApiError> {
    tokio::task::spawn_blocking(move || {
        let known = stored.is_some();
        let hash = stored.unwrap_or_else(|| dummy_hash().to_string());
        let matches = PasswordHash::new(&hash)
            .map(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
            .unwrap_or(false);
        known && matches
    })
    .await
    .map_err(ApiError::internal)
}

fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash_now("dummy password for unknown users").expect("hashing a constant cannot fail"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_only_its_password() {
        let stored = hash("correct horse".into()).await.unwrap();
        assert!(stored.starts_with("$argon2id$"));
        assert!(verify("correct horse".into(), Some(stored.clone())).await.unwrap());
        assert!(!verify("wrong horse".into(), Some(stored)).await.unwrap());
    }

    #[tokio::test]
    async fn unknown_users_never_verify() {
        assert!(!verify("dummy password for unknown users".into(), None).await.unwrap());
    }

    #[test]
    fn length_rules() {
        assert!(validate("short", "password").is_err());
        assert!(validate("long enough", "password").is_ok());
        assert!(validate(&"x".repeat(MAX_PASSWORD_CHARS + 1), "password").is_err());
        // Characters, not bytes: eight emoji are eight characters.
        assert!(validate("🙂🙂🙂🙂🙂🙂🙂🙂", "password").is_ok());
    }
}
