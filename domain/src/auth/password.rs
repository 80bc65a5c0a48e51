//! Argon2id hashing, always on a blocking thread: a hash costs tens of milliseconds
//! of CPU, which would stall every other request on the async runtime.

use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

use super::AuthError;

pub const MIN_PASSWORD_CHARS: usize = 8;
/// Argon2 reads every byte; a cap keeps a huge password from being a cheap DoS.
pub const MAX_PASSWORD_CHARS: usize = 1024;

pub fn validate(password: &str, field: &str) -> Result<(), AuthError> {
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        return Err(AuthError::invalid(
            field,
            format!("The password must have at least {MIN_PASSWORD_CHARS} characters."),
        ));
    }
    if chars > MAX_PASSWORD_CHARS {
        return Err(AuthError::invalid(
            field,
            format!("The password must have at most {MAX_PASSWORD_CHARS} characters."),
        ));
    }
    Ok(())
}

pub async fn hash(password: String) -> Result<String, AuthError> {
    tokio::task::spawn_blocking(move || hash_now(&password))
        .await
        .map_err(|e| AuthError::Hashing(e.to_string()))?
}

fn hash_now(password: &str) -> Result<String, AuthError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| AuthError::Hashing(e.to_string()))
}

/// Checks `password` against `stored`; with no stored hash (unknown user) it checks
/// against a fixed dummy hash with the same parameters, so the answer takes as long
/// either way and timing does not reveal which usernames exist.
pub async fn verify(password: String, stored: Option<String>) -> Result<bool, AuthError> {
    tokio::task::spawn_blocking(move || {
        let known = stored.is_some();
        let hash = stored.as_deref().unwrap_or(DUMMY_HASH);
        let matches = check(password.as_bytes(), hash).unwrap_or(false);
        known && matches
    })
    .await
    .map_err(|e| AuthError::Hashing(e.to_string()))
}

/// Runs Argon2 on `password` against `hash`, with the hash's own parameters:
/// whether it matches, or `None` when `hash` is not a PHC string (nothing ran).
fn check(password: &[u8], hash: &str) -> Option<bool> {
    let parsed = PasswordHash::new(hash).ok()?;
    Some(Argon2::default().verify_password(password, &parsed).is_ok())
}

/// The hash unknown users' passwords are checked against: `hash_now` of
/// `DUMMY_PASSWORD`, made once and committed, so no function computes it when it
/// starts or on its first login (which then ran Argon2 twice). A test keeps its
/// parameters equal to those `hash` uses.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$5cx7t2mEI9nbJN+rgDqtwg$P0EY6DBFeIPYuSEVPpXJaCLr4jlw/0CMa3or2jKTWdI";

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

    /// What `DUMMY_HASH` is a hash of.
    const DUMMY_PASSWORD: &str = "dummy password for unknown users";

    #[tokio::test]
    async fn unknown_users_never_verify() {
        assert!(!verify(DUMMY_PASSWORD.into(), None).await.unwrap());
        assert!(!verify("password123".into(), None).await.unwrap());
    }

    #[test]
    fn the_dummy_hash_has_the_parameters_of_real_hashes() {
        let real = hash_now("correct horse").unwrap();
        let real = PasswordHash::new(&real).unwrap();
        let dummy = PasswordHash::new(DUMMY_HASH).unwrap();
        assert_eq!(dummy.algorithm, real.algorithm);
        assert_eq!(dummy.version, real.version);
        assert_eq!(dummy.params, real.params, "m, t and p as `hash` uses them");
        assert_eq!(dummy.salt.map(|s| s.len()), real.salt.map(|s| s.len()));
        assert_eq!(dummy.hash.map(|h| h.len()), real.hash.map(|h| h.len()));
    }

    #[test]
    fn an_unknown_user_costs_a_full_argon2_verification() {
        // The dummy hash parses, so `verify` runs Argon2 on it to the end: a wrong
        // password is a real mismatch, and its own password a real match.
        assert_eq!(check(b"password123", DUMMY_HASH), Some(false));
        assert_eq!(check(DUMMY_PASSWORD.as_bytes(), DUMMY_HASH), Some(true));
        assert_eq!(check(b"password123", "not a hash"), None);
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
