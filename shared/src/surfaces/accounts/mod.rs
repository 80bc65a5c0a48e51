//! The canonical accounts surface (API.md §2, "Accounts"): register, sign in and
//! out, the profile, admin switches, and personal API keys.

pub mod api_keys;
pub mod shapes;
pub mod users;

use self::shapes::api_keys::{ApiKeyView, CreateApiKeyRequest, CreatedApiKey};
use self::shapes::users::{
    AccountStatusView, AuthResponse, LoginRequest, ProfileView, RegisterRequest, UpdateProfileRequest,
};
use crate::http::route::{handler, json, list, Limit, Route, Surface};
use crate::surfaces::shapes::Notice;

/// The surface's routes, in the order the document lists them.
pub const ROUTES: &[Route] = &[
    Route::new("POST", "/api/register/", "register", handler!(users::register))
        .surface(Surface::Accounts)
        .summary("Create an account and get a token")
        .public()
        .limit(Limit::PerIp)
        .request(json::<RegisterRequest>())
        .response(201, json::<AuthResponse>())
        .errors(&[409]),
    Route::new("POST", "/api/login/", "login", handler!(users::login))
        .surface(Surface::Accounts)
        .summary("Exchange a username or email and password for a token")
        .public()
        .limit(Limit::PerIp)
        .request(json::<LoginRequest>())
        .response(200, json::<AuthResponse>())
        .errors(&[401, 403]),
    Route::new("POST", "/api/logout/", "logout", handler!(users::logout))
        .surface(Surface::Accounts)
        .summary("Revoke the presented token (or all, with ?all=true)")
        .response(200, json::<Notice>())
        .query(&[("all", "true revokes every token of the user.")]),
    Route::new("GET", "/api/me/", "get-me", handler!(users::get_me))
        .surface(Surface::Accounts)
        .summary("The caller's profile")
        .response(200, json::<ProfileView>()),
    Route::new("PATCH", "/api/me/", "update-me", handler!(users::update_me))
        .surface(Surface::Accounts)
        .summary("Change email, time zone or password")
        .limit(Limit::Write)
        .request(json::<UpdateProfileRequest>())
        .response(200, json::<ProfileView>())
        .errors(&[409]),
    Route::new("DELETE", "/api/me/", "delete-me", handler!(users::delete_me))
        .surface(Surface::Accounts)
        .summary("Delete the account with all its data")
        .limit(Limit::Write)
        .response(200, json::<Notice>()),
    Route::new(
        "POST",
        "/api/users/{username}/deactivate/",
        "deactivate-user",
        handler!(users::deactivate_user),
    )
    .surface(Surface::Accounts)
    .summary("Deactivate a user (admins only)")
    .limit(Limit::Write)
    .response(200, json::<AccountStatusView>())
    .errors(&[403, 404]),
    Route::new(
        "POST",
        "/api/users/{username}/activate/",
        "activate-user",
        handler!(users::activate_user),
    )
    .surface(Surface::Accounts)
    .summary("Reactivate a user (admins only)")
    .limit(Limit::Write)
    .response(200, json::<AccountStatusView>())
    .errors(&[403, 404]),
    Route::new("POST", "/api/keys/", "api-keys", handler!(api_keys::create_key))
        .surface(Surface::Accounts)
        .summary("Create a personal API key for /v1/ (shown only in this answer)")
        .limit(Limit::Write)
        .request(json::<CreateApiKeyRequest>())
        .response(201, json::<CreatedApiKey>())
        .errors(&[409]),
    Route::new("GET", "/api/keys/", "api-keys", handler!(api_keys::list_keys))
        .surface(Surface::Accounts)
        .summary("The caller's personal API keys, oldest first")
        .response(200, list::<ApiKeyView>()),
    Route::new(
        "DELETE",
        "/api/keys/{key_id}/",
        "api-keys",
        handler!(api_keys::revoke_key),
    )
    .surface(Surface::Accounts)
    .summary("Revoke a personal API key at once")
    .limit(Limit::Write)
    .response(200, json::<Notice>())
    .errors(&[404]),
];
