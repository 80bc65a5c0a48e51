//! Accounts as the domain sees them: registering, signing in and out, changing a
//! profile, an administrator's (de)activation, deleting. Every surface (the
//! canonical API and the dialects) runs these same operations and only shapes
//! them differently. Each takes the store's roles it uses; failures are
//! `AccountError`, which `crate::error` turns into HTTP once, at the edge.

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use crate::auth::{password, token, username, AuthError, Caller, API_KEY_PREFIX};
use crate::ratelimit::{self, RateLimited};
use crate::store::{
    Accounts, ApiKey, ApiKeys, AuthToken, Limits, PasswordChange, StoreError, Tokens, User, UserChanges,
};

/// Why an account operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("the username is taken")]
    UsernameTaken,
    #[error("the email is registered")]
    EmailTaken,
    /// Unknown name or address, or the wrong password: which is never said.
    #[error("invalid credentials")]
    InvalidCredentials,
    /// The current password of a change was wrong.
    #[error("the current password is wrong")]
    WrongPassword,
    /// Another request changed the password between this one's read and write.
    #[error("the password changed meanwhile")]
    PasswordChangedMeanwhile,
    #[error("not an administrator")]
    NotAdmin,
    #[error("an administrator cannot deactivate their own account")]
    CannotDeactivateSelf,
    #[error("no such user")]
    UserNotFound,
    #[error("the account holds {MAX_API_KEYS} API keys already")]
    TooManyApiKeys,
    /// Unknown, or another user's.
    #[error("no such API key")]
    ApiKeyNotFound,
    /// A rule of names, addresses or passwords, a deactivated account, or hashing.
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error(transparent)]
    Limited(#[from] RateLimited),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The deployment's settings accounts follow (API.md §5).
#[derive(Clone, Copy, Debug)]
pub struct AccountSettings {
    /// `INITIAL_TOKENS`: a new account's balance.
    pub initial_tokens: i64,
    /// `TOKEN_TTL_DAYS`: how long a token signs in.
    pub token_ttl: Duration,
    /// `AUTH_RATE_LIMIT_PER_MINUTE`: guesses of a password per window.
    pub auth_rate_limit_per_minute: u32,
}

/// A registration, as read from any surface.
pub struct NewAccount {
    pub username: String,
    pub password: String,
    pub email: Option<String>,
}

/// A login: a username or an email address, and the password.
pub struct Credentials {
    pub username: Option<String>,
    pub email: Option<String>,
    pub password: String,
}

/// What a profile update changes; `None` leaves a field as it is.
#[derive(Default)]
pub struct ProfileUpdate {
    /// A new address, or `Some(None)` to remove it.
    pub email: Option<Option<String>>,
    /// A validated IANA zone name, or `Some(None)` to use the deployment's.
    pub time_zone: Option<Option<String>>,
    pub password: Option<NewPassword>,
}

/// A password change.
pub struct NewPassword {
    pub current: String,
    pub new: String,
    /// The rate-limit windows the check of `current` counts in, as a guess.
    pub guess_windows: Vec<String>,
}

/// A new token for `user`, stored by its digest; the secret is returned (the only
/// time it is seen).
pub async fn issue_token(
    tokens: &dyn Tokens,
    user: &User,
    ttl: Duration,
    now: DateTime<Utc>,
) -> Result<String, StoreError> {
    let secret = token::generate();
    let record = AuthToken {
        digest: token::digest(&secret),
        user_id: user.id,
        created_at: now,
        expires_at: now + ttl,
    };
    tokens.insert_token(&record).await?;
    Ok(secret)
}

/// A trimmed address checked against the rules; blank is none.
fn normalize_email(email: Option<String>) -> Result<Option<String>, AuthError> {
    match email.map(|e| e.trim().to_string()).filter(|e| !e.is_empty()) {
        Some(email) => {
            username::validate_email(&email)?;
            Ok(Some(email))
        }
        None => Ok(None),
    }
}

/// Registration: the new user and its first token.
pub async fn create_account(
    accounts: &dyn Accounts,
    tokens: &dyn Tokens,
    settings: &AccountSettings,
    new: NewAccount,
    now: DateTime<Utc>,
) -> Result<(User, String), AccountError> {
    let name = new.username.trim().to_string();
    username::validate_username(&name)?;
    password::validate(&new.password, "password")?;
    let email = normalize_email(new.email)?;
    // Checked first for a fast, clear answer; the store's unique keys still decide
    // a race between two registrations of one name.
    if accounts.user_by_username(&name).await?.is_some() {
        return Err(AccountError::UsernameTaken);
    }
    if let Some(email) = &email {
        if accounts.user_by_email(email).await?.is_some() {
            return Err(AccountError::EmailTaken);
        }
    }
    let user = User {
        id: Uuid::now_v7(),
        username: name,
        email,
        password_hash: password::hash(new.password).await?,
        date_joined: now,
        is_active: true,
        // Only the operator command grants the role, never a request.
        is_admin: false,
        time_zone: None,
        tokens: settings.initial_tokens,
        spent: 0,
        requests: 0,
    };
    accounts.create_user(&user).await?;
    let token = issue_token(tokens, &user, settings.token_ttl, now).await?;
    Ok((user, token))
}

/// Login: the active user and a new token. Unknown accounts cost the same work
/// as known ones, so the answer's time tells nothing.
pub async fn sign_in(
    accounts: &dyn Accounts,
    tokens: &dyn Tokens,
    token_ttl: Duration,
    credentials: Credentials,
    now: DateTime<Utc>,
) -> Result<(User, String), AccountError> {
    let user = match (
        credentials.username.as_deref().map(str::trim),
        credentials.email.as_deref().map(str::trim),
    ) {
        // A name or address no account can have is looked up nowhere (a key over
        // DynamoDB's 2 KB would be an error), yet costs the same hash below.
        (Some(name), _) if !name.is_empty() => match username::could_be_username(name) {
            true => accounts.user_by_username(name).await?,
            false => None,
        },
        (_, Some(email)) if !email.is_empty() => match username::could_be_email(email) {
            true => accounts.user_by_email(email).await?,
            false => None,
        },
        _ => return Err(AuthError::invalid("username", "Send `username` or `email` with `password`.").into()),
    };
    // Verified against a dummy hash when the user is unknown: same work, same time.
    let verified = password::verify(credentials.password, user.as_ref().map(|u| u.password_hash.clone())).await?;
    let user = match user {
        Some(user) if verified => user,
        _ => return Err(AccountError::InvalidCredentials),
    };
    if !user.is_active {
        return Err(AuthError::Deactivated.into());
    }
    let token = issue_token(tokens, &user, token_ttl, now).await?;
    Ok((user, token))
}

/// Logout: the caller's token, or with `everywhere` every token of the account.
pub async fn sign_out(tokens: &dyn Tokens, caller: &Caller, everywhere: bool) -> Result<(), StoreError> {
    if everywhere {
        tokens.delete_tokens_of(caller.user.id, None).await
    } else {
        tokens.delete_token(&caller.token_digest).await
    }
}

/// Revokes the session tokens `secrets` other than the caller's own (the cookies a
/// request carried beside the token it was let in by).
pub async fn revoke_other_sessions(tokens: &dyn Tokens, caller: &Caller, secrets: &[&str]) -> Result<(), StoreError> {
    for secret in secrets {
        let digest = token::digest(secret);
        if digest != caller.token_digest {
            tokens.delete_token(&digest).await?;
        }
    }
    Ok(())
}

/// Changes the caller's profile; the user as it is afterwards. A password change
/// checks the current one (counted as a guess in each of its windows) and then
/// ends every other session.
pub async fn update_profile(
    accounts: &dyn Accounts,
    tokens: &dyn Tokens,
    limits: &dyn Limits,
    settings: &AccountSettings,
    caller: &Caller,
    update: ProfileUpdate,
    now: DateTime<Utc>,
) -> Result<User, AccountError> {
    let mut changes = UserChanges::default();
    if let Some(email) = update.email {
        let email = normalize_email(email)?;
        if let Some(address) = &email {
            if accounts
                .user_by_email(address)
                .await?
                .is_some_and(|other| other.id != caller.user.id)
            {
                return Err(AccountError::EmailTaken);
            }
        }
        changes.email = Some(email);
    }
    changes.time_zone = update.time_zone;
    if let Some(NewPassword {
        current: old,
        new,
        guess_windows,
    }) = update.password
    {
        password::validate(&new, "password.new")?;
        for subject in &guess_windows {
            ratelimit::count(limits, subject, settings.auth_rate_limit_per_minute, now)
                .await?
                .check()?;
        }
        let current = caller.user.password_hash.clone();
        if !password::verify(old, Some(current.clone())).await? {
            return Err(AccountError::WrongPassword);
        }
        changes.password = Some(PasswordChange {
            from: current,
            to: password::hash(new).await?,
        });
    }
    match accounts.update_user(caller.user.id, &changes).await {
        Err(StoreError::Conflict { field: "password" }) => return Err(AccountError::PasswordChangedMeanwhile),
        result => result?,
    }
    if changes.password.is_some() {
        // Whoever knew the old password may hold a token: keep only this session.
        tokens
            .delete_tokens_of(caller.user.id, Some(&caller.token_digest))
            .await?;
    }
    let mut user = caller.user.clone();
    changes.apply_to(&mut user);
    Ok(user)
}

/// The most personal API keys a user may hold (API.md §7): enough for every
/// machine and tool, few enough that a leaked session cannot mint keys without end.
pub const MAX_API_KEYS: usize = 20;

/// A new personal API key called `name` (already checked) for `user`: the record
/// and the key itself, which is shown this once (the store keeps its digest).
pub async fn create_api_key(
    api_keys: &dyn ApiKeys,
    user: &User,
    name: &str,
    now: DateTime<Utc>,
) -> Result<(ApiKey, String), AccountError> {
    if api_keys.api_keys_of(user.id).await?.len() >= MAX_API_KEYS {
        return Err(AccountError::TooManyApiKeys);
    }
    let secret = format!("{API_KEY_PREFIX}{}", token::generate());
    let key = ApiKey {
        id: Uuid::now_v7(),
        user_id: user.id,
        name: name.to_string(),
        digest: token::digest(&secret),
        created_at: now,
        last_used_at: None,
        requests: 0,
    };
    api_keys.create_api_key(&key).await?;
    Ok((key, secret))
}

/// The user's personal API keys, oldest first.
pub async fn api_keys_of(api_keys: &dyn ApiKeys, user: &User) -> Result<Vec<ApiKey>, StoreError> {
    api_keys.api_keys_of(user.id).await
}

/// Revokes the user's key `id` at once.
pub async fn revoke_api_key(api_keys: &dyn ApiKeys, user: &User, id: Uuid) -> Result<(), AccountError> {
    match api_keys.delete_api_key(user.id, id).await? {
        true => Ok(()),
        false => Err(AccountError::ApiKeyNotFound),
    }
}

/// Deletes the account with everything in it.
pub async fn delete_account(accounts: &dyn Accounts, user: &User) -> Result<(), StoreError> {
    accounts.delete_user(user.id).await
}

/// An administrator (de)activates the user called `name`; the user afterwards.
pub async fn change_active(
    accounts: &dyn Accounts,
    api_keys: &dyn ApiKeys,
    admin: &User,
    name: &str,
    active: bool,
) -> Result<User, AccountError> {
    // The role as stored on the account the token belongs to, read with it on
    // this request: a revocation takes effect on the admin's next request.
    if !admin.is_admin {
        return Err(AccountError::NotAdmin);
    }
    if !username::could_be_username(name) {
        return Err(AccountError::UserNotFound);
    }
    let mut user = accounts
        .user_by_username(name)
        .await?
        .ok_or(AccountError::UserNotFound)?;
    if user.id == admin.id && !active {
        return Err(AccountError::CannotDeactivateSelf);
    }
    let changes = UserChanges {
        is_active: Some(active),
        ..UserChanges::default()
    };
    accounts.update_user(user.id, &changes).await?;
    if !active {
        // Deactivation revokes personal API keys for good (API.md §7); tokens
        // only wait (403) for a reactivation.
        api_keys.delete_api_keys_of(user.id).await?;
    }
    changes.apply_to(&mut user);
    Ok(user)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::SqliteStore;

    const SETTINGS: AccountSettings = AccountSettings {
        initial_tokens: 4000,
        token_ttl: Duration::days(30),
        auth_rate_limit_per_minute: 10,
    };

    fn new(name: &str) -> NewAccount {
        NewAccount {
            username: format!(" {name} "),
            password: "a long passphrase".into(),
            email: Some(format!("{name}@example.com")),
        }
    }

    fn as_caller(user: &User, token: &str) -> Caller {
        Caller {
            user: user.clone(),
            token_digest: token::digest(token),
            credential: crate::auth::Credential::Header,
        }
    }

    /// The operations run on the store's roles alone: no function state, no HTTP.
    #[tokio::test]
    async fn an_account_is_made_signed_into_and_refused_by_its_rules() {
        let store = SqliteStore::in_memory().unwrap();
        let now = Utc::now();
        let (alice, _) = create_account(&store, &store, &SETTINGS, new("alice"), now)
            .await
            .unwrap();
        assert_eq!((alice.username.as_str(), alice.tokens), ("alice", 4000));
        let taken = create_account(&store, &store, &SETTINGS, new("alice"), now).await;
        assert!(matches!(taken, Err(AccountError::UsernameTaken)));
        let same_email = NewAccount {
            username: "alicia".into(),
            ..new("alice")
        };
        let taken = create_account(&store, &store, &SETTINGS, same_email, now).await;
        assert!(matches!(taken, Err(AccountError::EmailTaken)));

        let login = |password: &str| Credentials {
            username: None,
            email: Some("alice@example.com".into()),
            password: password.into(),
        };
        let (user, token) = sign_in(&store, &store, SETTINGS.token_ttl, login("a long passphrase"), now)
            .await
            .unwrap();
        assert_eq!(user.id, alice.id);
        assert!(store
            .user_by_token(&token::digest(&token), now)
            .await
            .unwrap()
            .is_some());
        let wrong = sign_in(&store, &store, SETTINGS.token_ttl, login("not it at all"), now).await;
        assert!(matches!(wrong, Err(AccountError::InvalidCredentials)));
        let nobody = Credentials {
            username: Some("nobody".into()),
            ..login("a long passphrase")
        };
        let unknown = sign_in(&store, &store, SETTINGS.token_ttl, nobody, now).await;
        assert!(matches!(unknown, Err(AccountError::InvalidCredentials)));

        let change = |current: &str| ProfileUpdate {
            password: Some(NewPassword {
                current: current.into(),
                new: "another long passphrase".into(),
                guess_windows: vec![format!("password:{}", alice.id)],
            }),
            ..ProfileUpdate::default()
        };
        let caller = as_caller(&user, &token);
        let refused = update_profile(&store, &store, &store, &SETTINGS, &caller, change("wrong guess"), now).await;
        assert!(matches!(refused, Err(AccountError::WrongPassword)));
        let changed = update_profile(
            &store,
            &store,
            &store,
            &SETTINGS,
            &caller,
            change("a long passphrase"),
            now,
        )
        .await
        .unwrap();
        assert_ne!(changed.password_hash, user.password_hash);
        // The caller's session stays; the guesses counted in the account's window.
        assert!(store
            .user_by_token(&token::digest(&token), now)
            .await
            .unwrap()
            .is_some());
    }

    #[tokio::test]
    async fn only_an_administrator_changes_another_accounts_state() {
        let store = SqliteStore::in_memory().unwrap();
        let now = Utc::now();
        let (alice, _) = create_account(&store, &store, &SETTINGS, new("alice"), now)
            .await
            .unwrap();
        let (mut admin, _) = create_account(&store, &store, &SETTINGS, new("root"), now)
            .await
            .unwrap();
        let refused = change_active(&store, &store, &alice, "root", false).await;
        assert!(matches!(refused, Err(AccountError::NotAdmin)));
        admin.is_admin = true;
        let own = change_active(&store, &store, &admin, "root", false).await;
        assert!(matches!(own, Err(AccountError::CannotDeactivateSelf)));
        for missing in ["nobody", "not a name!"] {
            let found = change_active(&store, &store, &admin, missing, false).await;
            assert!(matches!(found, Err(AccountError::UserNotFound)), "{missing}");
        }
        let off = change_active(&store, &store, &admin, "alice", false).await.unwrap();
        assert!(!off.is_active);
        assert!(!store.user_by_id(alice.id).await.unwrap().unwrap().is_active);
        let login = Credentials {
            username: Some("alice".into()),
            email: None,
            password: "a long passphrase".into(),
        };
        let deactivated = sign_in(&store, &store, SETTINGS.token_ttl, login, now).await;
        assert!(matches!(deactivated, Err(AccountError::Auth(AuthError::Deactivated))));
    }
}
