use chrono::Duration;
use http::StatusCode;

use crate::api::accounts::*;
use crate::api::Notice;
use crate::auth::{password, token, username};
use crate::error::ApiError;
use crate::http::call::Call;
use crate::http::cookie;
use crate::http::reply::Reply;
use crate::ratelimit;
use crate::store::{AuthToken, PasswordChange, StoreError, User, UserChanges};
use crate::time::parse_zone;

/// Creates a token for `user` and returns it (the only time it is shown).
async fn issue_token(call: &Call<'_>, user: &User) -> Result<String, ApiError> {
    let secret = token::generate();
    let record = AuthToken {
        digest: token::digest(&secret),
        user_id: user.id,
        created_at: call.now,
        expires_at: call.now + Duration::days(call.state.config.token_ttl_days),
    };
    call.state.store.insert_token(&record).await?;
    Ok(secret)
}

fn normalize_email(email: Option<String>) -> Result<Option<String>, ApiError> {
    match email.map(|e| e.trim().to_string()).filter(|e| !e.is_empty()) {
        Some(email) => {
            username::validate_email(&email)?;
            Ok(Some(email))
        }
        None => Ok(None),
    }
}

pub async fn register(call: &Call<'_>) -> Result<Reply, ApiError> {
    let (user, token) = create_account(call, call.json()?).await?;
    Reply::created(AuthResponse {
        message: "Registered successfully!".into(),
        token,
        user: (&user).into(),
        tokens: user.tokens,
    })
}

/// Registration as every dialect does it: the new user and its first token.
pub(crate) async fn create_account(call: &Call<'_>, body: RegisterRequest) -> Result<(User, String), ApiError> {
    let name = body.username.trim().to_string();
    username::validate_username(&name)?;
    password::validate(&body.password, "password")?;
    let email = normalize_email(body.email)?;
    let store = &call.state.store;
    // Checked first for a fast, clear answer; the store's unique keys still decide
    // a race between two registrations of one name.
    if store.user_by_username(&name).await?.is_some() {
        return Err(ApiError::conflict("username_taken", "That username is already taken.").with("field", "username"));
    }
    if let Some(email) = &email {
        if store.user_by_email(email).await?.is_some() {
            return Err(ApiError::conflict("email_taken", "That email is already registered.").with("field", "email"));
        }
    }
    let user = User {
        id: uuid::Uuid::now_v7(),
        username: name,
        email,
        password_hash: password::hash(body.password).await?,
        date_joined: call.now,
        is_active: true,
        // Only the operator command grants the role, never a request.
        is_admin: false,
        time_zone: None,
        tokens: call.state.config.initial_tokens,
        spent: 0,
        requests: 0,
    };
    store.create_user(&user).await?;
    let token = issue_token(call, &user).await?;
    Ok((user, token))
}

pub async fn login(call: &Call<'_>) -> Result<Reply, ApiError> {
    let (user, token) = sign_in(call, call.json()?).await?;
    Reply::ok(AuthResponse {
        message: "Logged-In successfully!".into(),
        token,
        user: (&user).into(),
        tokens: user.tokens,
    })
}

/// Login as every dialect does it: the active user and a new token, or 401
/// `invalid_credentials` (same work whether or not the user exists), or 403.
pub(crate) async fn sign_in(call: &Call<'_>, body: LoginRequest) -> Result<(User, String), ApiError> {
    let store = &call.state.store;
    let user = match (
        body.username.as_deref().map(str::trim),
        body.email.as_deref().map(str::trim),
    ) {
        // A name or address no account can have is looked up nowhere (a key over
        // DynamoDB's 2 KB would be an error), yet costs the same hash below.
        (Some(name), _) if !name.is_empty() => match username::could_be_username(name) {
            true => store.user_by_username(name).await?,
            false => None,
        },
        (_, Some(email)) if !email.is_empty() => match username::could_be_email(email) {
            true => store.user_by_email(email).await?,
            false => None,
        },
        _ => {
            return Err(ApiError::invalid_field(
                "username",
                "Send `username` or `email` with `password`.",
            ))
        }
    };
    // Verified against a dummy hash when the user is unknown: same work, same time.
    let verified = password::verify(body.password, user.as_ref().map(|u| u.password_hash.clone())).await?;
    let user = match user {
        Some(user) if verified => user,
        _ => {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_credentials",
                "Invalid credentials",
            ))
        }
    };
    if !user.is_active {
        return Err(ApiError::forbidden(
            "account_deactivated",
            "This account has been deactivated.",
        ));
    }
    let token = issue_token(call, &user).await?;
    Ok((user, token))
}

/// Revokes the tokens of the request's session cookies besides the one it was
/// authenticated by, so a logout sent with both a header and the cookie does not
/// leave the cookie signed in. Whether the request carried a session cookie.
pub(crate) async fn revoke_cookies(call: &Call<'_>) -> Result<bool, ApiError> {
    let caller = call.caller()?;
    let store = &call.state.store;
    let cookies = cookie::values(call.request.headers(), &call.state.config.session_cookie.name);
    for value in &cookies {
        let digest = token::digest(value);
        if digest != caller.token_digest {
            store.delete_token(&digest).await?;
        }
    }
    Ok(!cookies.is_empty())
}

pub async fn logout(call: &Call<'_>) -> Result<Reply, ApiError> {
    let caller = call.caller()?;
    let notice = if call.query_flag("all")? {
        call.state.store.delete_tokens_of(caller.user.id, None).await?;
        "Logged out of every session."
    } else {
        call.state.store.delete_token(&caller.token_digest).await?;
        "Logged out successfully."
    };
    let had_cookie = revoke_cookies(call).await?;
    let reply = Reply::ok(Notice::new(notice))?;
    Ok(if had_cookie {
        reply.with_header("set-cookie", cookie::clear(&call.state.config.session_cookie))
    } else {
        reply
    })
}

pub async fn get_me(call: &Call<'_>) -> Result<Reply, ApiError> {
    Reply::ok(ProfileView::build(call.user()?, &call.state.config))
}

pub async fn update_me(call: &Call<'_>) -> Result<Reply, ApiError> {
    let body: UpdateProfileRequest = call.json()?;
    let caller = call.caller()?;
    let store = &call.state.store;
    let mut changes = UserChanges::default();
    if let Some(email) = body.email {
        let email = normalize_email(email)?;
        if let Some(address) = &email {
            if store
                .user_by_email(address)
                .await?
                .is_some_and(|other| other.id != caller.user.id)
            {
                return Err(
                    ApiError::conflict("email_taken", "That email is already registered.").with("field", "email")
                );
            }
        }
        changes.email = Some(email);
    }
    if let Some(zone) = body.time_zone {
        changes.time_zone = Some(match zone.map(|z| z.trim().to_string()).filter(|z| !z.is_empty()) {
            Some(name) => Some(parse_zone(&name, "time_zone")?.name().to_string()),
            None => None,
        });
    }
    if let Some(change) = body.password {
        password::validate(&change.new, "password.new")?;
        count_password_attempt(call, caller.user.id).await?;
        let current = caller.user.password_hash.clone();
        if !password::verify(change.old, Some(current.clone())).await? {
            return Err(ApiError::invalid_field(
                "password.old",
                "The current password is not correct.",
            ));
        }
        changes.password = Some(PasswordChange {
            from: current,
            to: password::hash(change.new).await?,
        });
    }
    match store.update_user(caller.user.id, &changes).await {
        Err(StoreError::Conflict { field: "password" }) => {
            return Err(ApiError::conflict(
                "password_changed",
                "The password was changed by another request meanwhile; sign in again.",
            )
            .with("field", "password.old"))
        }
        result => result?,
    }
    if changes.password.is_some() {
        // Whoever knew the old password may hold a token: keep only this session.
        store
            .delete_tokens_of(caller.user.id, Some(&caller.token_digest))
            .await?;
    }
    let mut user = caller.user.clone();
    changes.apply_to(&mut user);
    Reply::ok(ProfileView::build(&user, &call.state.config))
}

/// A check of the current password is a guess like a login: it counts in the
/// client's auth window (shared with login and register) and in the account's own,
/// so a stolen token cannot try passwords faster than a login could, from any
/// number of addresses.
async fn count_password_attempt(call: &Call<'_>, user_id: uuid::Uuid) -> Result<(), ApiError> {
    let limit = call.state.config.auth_rate_limit_per_minute;
    let store = call.state.store.as_ref();
    for subject in [format!("ip:{}", call.client_ip()), format!("password:{user_id}")] {
        ratelimit::count(store, &subject, limit, call.now).await?.check()?;
    }
    Ok(())
}

pub async fn delete_me(call: &Call<'_>) -> Result<Reply, ApiError> {
    let user = call.user()?;
    call.state.store.delete_user(user.id).await?;
    Reply::ok(Notice::new("Account deleted with all its chats."))
}

pub async fn deactivate_user(call: &Call<'_>) -> Result<Reply, ApiError> {
    set_active(call, false).await
}

pub async fn activate_user(call: &Call<'_>) -> Result<Reply, ApiError> {
    set_active(call, true).await
}

async fn set_active(call: &Call<'_>, active: bool) -> Result<Reply, ApiError> {
    let user = change_active(call, active).await?;
    let message = if active { "User activated." } else { "User deactivated." };
    Reply::ok(AccountStatusView {
        message: message.into(),
        username: user.username,
        is_active: active,
    })
}

/// An admin (de)activates the user named by the path's `username`.
pub(crate) async fn change_active(call: &Call<'_>, active: bool) -> Result<User, ApiError> {
    let admin = call.user()?;
    // The role as stored on the account the token belongs to, read with it on
    // this request: a revocation takes effect on the admin's next request.
    if !admin.is_admin {
        return Err(ApiError::forbidden("not_admin", "Only an administrator can do this."));
    }
    let name = call.path_param("username");
    let store = &call.state.store;
    let not_found = || ApiError::not_found("User not found.");
    if !username::could_be_username(name) {
        return Err(not_found());
    }
    let mut user = store.user_by_username(name).await?.ok_or_else(not_found)?;
    if user.id == admin.id && !active {
        return Err(ApiError::bad_request(
            "cannot_deactivate_self",
            "An administrator cannot deactivate their own account.",
        ));
    }
    let changes = UserChanges {
        is_active: Some(active),
        ..UserChanges::default()
    };
    store.update_user(user.id, &changes).await?;
    if !active {
        // Deactivation revokes personal API keys for good (API.md §7); tokens
        // only wait (403) for a reactivation.
        store.delete_api_keys_of(user.id).await?;
    }
    changes.apply_to(&mut user);
    Ok(user)
}
