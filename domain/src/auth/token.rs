//! Bearer tokens: 256 random bits shown once to the client; only their SHA-256
//! digest is stored, so a leaked table yields no usable token.

use argon2::password_hash::rand_core::{OsRng, RngCore};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};

use super::AuthError;

/// A new random token (43 URL-safe characters).
pub fn generate() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The stored form of a token.
pub fn digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Takes the token out of `Authorization: Token <t>` (Django REST Framework's
/// scheme, used by the dialect clients) or `Authorization: Bearer <t>` (OpenAI
/// clients). The scheme is case-insensitive, as HTTP auth schemes are.
pub fn from_authorization(header: Option<&str>) -> Result<&str, AuthError> {
    let header = header.ok_or(AuthError::NoCredentials)?;
    let (scheme, token) = header.trim().split_once(' ').unwrap_or((header.trim(), ""));
    let token = token.trim();
    if !(scheme.eq_ignore_ascii_case("token") || scheme.eq_ignore_ascii_case("bearer")) || token.is_empty() {
        return Err(AuthError::UnknownScheme);
    }
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_256_bits() {
        let a = generate();
        let b = generate();
        assert_ne!(a, b);
        assert_eq!(URL_SAFE_NO_PAD.decode(&a).unwrap().len(), 32);
    }

    #[test]
    fn digest_is_hex_sha256() {
        assert_eq!(
            digest("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn both_schemes_are_accepted() {
        assert_eq!(from_authorization(Some("Token abc")).unwrap(), "abc");
        assert_eq!(from_authorization(Some("bearer  abc ")).unwrap(), "abc");
        assert!(matches!(from_authorization(None), Err(AuthError::NoCredentials)));
        assert!(matches!(
            from_authorization(Some("Basic abc")),
            Err(AuthError::UnknownScheme)
        ));
        assert!(matches!(
            from_authorization(Some("Token")),
            Err(AuthError::UnknownScheme)
        ));
    }
}
