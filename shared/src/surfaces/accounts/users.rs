use crate::accounts::{self, Credentials, NewAccount, NewPassword, ProfileUpdate};
use crate::error::ApiError;
use crate::http::call::Call;
use crate::http::cookie;
use crate::http::reply::Reply;
use crate::store::User;
use crate::surfaces::accounts::shapes::users::*;
use crate::surfaces::shapes::Notice;
use crate::time::parse_zone;

pub async fn register(call: &Call<'_>) -> Result<Reply, ApiError> {
    let (user, token) = create_account(call, call.json()?).await?;
    Reply::created(AuthResponse {
        message: "Registered successfully!".into(),
        token,
        user: (&user).into(),
        tokens: user.tokens,
    })
}

/// Registration as every surface reads it: the new user and its first token.
pub(crate) async fn create_account(
    call: &Call<'_>,
    body: RegisterRequest,
) -> Result<(User, String), accounts::AccountError> {
    let new = NewAccount {
        username: body.username,
        password: body.password,
        email: body.email,
    };
    let state = call.state;
    accounts::create_account(
        state.accounts(),
        state.tokens(),
        &state.account_settings(),
        new,
        call.now,
    )
    .await
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

/// Login as every surface reads it: the active user and a new token.
pub(crate) async fn sign_in(call: &Call<'_>, body: LoginRequest) -> Result<(User, String), accounts::AccountError> {
    let credentials = Credentials {
        username: body.username,
        email: body.email,
        password: body.password,
    };
    let state = call.state;
    let ttl = state.account_settings().token_ttl;
    accounts::sign_in(state.accounts(), state.tokens(), ttl, credentials, call.now).await
}

/// Revokes the tokens of the request's session cookies besides the one it was
/// authenticated by, so a logout sent with both a header and the cookie does not
/// leave the cookie signed in. Whether the request carried a session cookie.
pub(crate) async fn revoke_cookies(call: &Call<'_>) -> Result<bool, ApiError> {
    let cookies = cookie::values(call.request.headers(), &call.state.config.session_cookie.name);
    accounts::revoke_other_sessions(call.state.tokens(), call.caller()?, &cookies).await?;
    Ok(!cookies.is_empty())
}

pub async fn logout(call: &Call<'_>) -> Result<Reply, ApiError> {
    let everywhere = call.query_flag("all")?;
    accounts::sign_out(call.state.tokens(), call.caller()?, everywhere).await?;
    let notice = if everywhere {
        "Logged out of every session."
    } else {
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
    let time_zone = match body.time_zone {
        Some(zone) => Some(match zone.map(|z| z.trim().to_string()).filter(|z| !z.is_empty()) {
            Some(name) => Some(parse_zone(&name, "time_zone")?.name().to_string()),
            None => None,
        }),
        None => None,
    };
    let update = ProfileUpdate {
        email: body.email,
        time_zone,
        password: body.password.map(|change| NewPassword {
            current: change.old,
            new: change.new,
            // A check of the current password is a guess like a login: it counts
            // in the client's auth window (shared with login and register) and in
            // the account's own, so a stolen token cannot try passwords faster
            // than a login could, from any number of addresses.
            guess_windows: vec![
                format!("ip:{}", call.client_ip()),
                format!("password:{}", caller.user.id),
            ],
        }),
    };
    let state = call.state;
    let user = accounts::update_profile(
        state.accounts(),
        state.tokens(),
        state.limits(),
        &state.account_settings(),
        caller,
        update,
        call.now,
    )
    .await?;
    Reply::ok(ProfileView::build(&user, &state.config))
}

pub async fn delete_me(call: &Call<'_>) -> Result<Reply, ApiError> {
    accounts::delete_account(call.state.accounts(), call.user()?).await?;
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
    let name = call.path_param("username");
    let state = call.state;
    Ok(accounts::change_active(state.accounts(), state.api_keys(), call.user()?, name, active).await?)
}
