//! The route table: every operation with its method, path, Lambda function name,
//! access rule and rate limit. The functions, the in-process test router, the
//! OpenAPI document and the consistency test over `template.yaml` and the
//! `cargo lambda watch` router all read this one table.

use std::collections::HashMap;
use std::time::Instant;

use lambda_http::{Body, Request, Response};

use crate::auth::authenticate;
use crate::error::ApiError;
use crate::handlers::{accounts, chats, messages, meta};
use crate::http::call::{path_of, Call};
use crate::http::cors;
use crate::http::reply::Reply;
use crate::ratelimit;
use crate::state::AppState;
use crate::time::parse_zone;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Operation {
    Register,
    Login,
    Logout,
    GetMe,
    UpdateMe,
    DeleteMe,
    DeactivateUser,
    ActivateUser,
    SendChat,
    ListChats,
    DeleteAllChats,
    GetChat,
    UpdateChat,
    DeleteChat,
    ListMessages,
    EditMessage,
    Regenerate,
    GetTokens,
    ListModels,
    OpenApi,
    Health,
    /// Answers what no route matches: 404, or 405 with `Allow`.
    Fallback,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Public,
    /// A valid token of an active account.
    User,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    None,
    /// `RATE_LIMIT_PER_MINUTE` per user: routes that call a model.
    PerUser,
    /// `AUTH_RATE_LIMIT_PER_MINUTE` per client IP: register and login.
    PerIp,
}

#[derive(Debug)]
pub struct Route {
    pub operation: Operation,
    pub method: &'static str,
    /// With a trailing slash, as the original clients call it; the slashless form
    /// answers too.
    pub path: &'static str,
    /// The Lambda function (and binary) that serves it.
    pub function: &'static str,
    pub summary: &'static str,
    pub access: Access,
    pub limit: Limit,
}

/// The function that answers unmatched paths and methods.
pub const FALLBACK_FUNCTION: &str = "route-fallback";

macro_rules! route {
    ($op:ident, $method:literal, $path:literal, $function:literal, $access:ident, $limit:ident, $summary:literal) => {
        Route {
            operation: Operation::$op,
            method: $method,
            path: $path,
            function: $function,
            summary: $summary,
            access: Access::$access,
            limit: Limit::$limit,
        }
    };
}

pub const ROUTES: &[Route] = &[
    route!(
        Register,
        "POST",
        "/api/register/",
        "register",
        Public,
        PerIp,
        "Create an account and get a token"
    ),
    route!(
        Login,
        "POST",
        "/api/login/",
        "login",
        Public,
        PerIp,
        "Exchange a username or email and password for a token"
    ),
    route!(
        Logout,
        "POST",
        "/api/logout/",
        "logout",
        User,
        None,
        "Revoke the presented token (or all, with ?all=true)"
    ),
    route!(GetMe, "GET", "/api/me/", "get-me", User, None, "The caller's profile"),
    route!(
        UpdateMe,
        "PATCH",
        "/api/me/",
        "update-me",
        User,
        None,
        "Change email, time zone or password"
    ),
    route!(
        DeleteMe,
        "DELETE",
        "/api/me/",
        "delete-me",
        User,
        None,
        "Delete the account with all its data"
    ),
    route!(
        DeactivateUser,
        "POST",
        "/api/users/{username}/deactivate/",
        "deactivate-user",
        User,
        None,
        "Deactivate a user (admins only)"
    ),
    route!(
        ActivateUser,
        "POST",
        "/api/users/{username}/activate/",
        "activate-user",
        User,
        None,
        "Reactivate a user (admins only)"
    ),
    route!(
        SendChat,
        "POST",
        "/api/chats/",
        "send-chat",
        User,
        PerUser,
        "Send a message and get the model's reply, or end the session"
    ),
    route!(
        ListChats,
        "GET",
        "/api/chats/",
        "list-chats",
        User,
        None,
        "The caller's chats, newest first, with their conversations"
    ),
    route!(
        DeleteAllChats,
        "DELETE",
        "/api/chats/",
        "delete-all-chats",
        User,
        None,
        "Delete every chat of the caller"
    ),
    route!(
        GetChat,
        "GET",
        "/api/chats/{chat_id}/",
        "get-chat",
        User,
        None,
        "One chat with its conversation"
    ),
    route!(
        UpdateChat,
        "PATCH",
        "/api/chats/{chat_id}/",
        "update-chat",
        User,
        None,
        "Rename a chat, or end or reopen it"
    ),
    route!(
        DeleteChat,
        "DELETE",
        "/api/chats/{chat_id}/",
        "delete-chat",
        User,
        None,
        "Delete one chat"
    ),
    route!(
        ListMessages,
        "GET",
        "/api/chats/{chat_id}/messages/",
        "list-messages",
        User,
        None,
        "A chat's messages, oldest first"
    ),
    route!(
        EditMessage,
        "PATCH",
        "/api/chats/{chat_id}/messages/{message_id}/",
        "edit-message",
        User,
        PerUser,
        "Edit a message, optionally answering it again"
    ),
    route!(
        Regenerate,
        "POST",
        "/api/chats/{chat_id}/regenerate/",
        "regenerate-reply",
        User,
        PerUser,
        "Answer the chat's last user message again"
    ),
    route!(
        GetTokens,
        "GET",
        "/api/tokens/",
        "get-tokens",
        User,
        None,
        "The token balance"
    ),
    route!(
        ListModels,
        "GET",
        "/api/models/",
        "list-models",
        User,
        None,
        "Every provider/model and whether it is available"
    ),
    route!(
        OpenApi,
        "GET",
        "/api/openapi.json",
        "get-openapi",
        Public,
        None,
        "This document"
    ),
    route!(
        Health,
        "GET",
        "/api/health/",
        "health",
        Public,
        None,
        "Liveness and store reachability"
    ),
];

/// The outcome of looking a request up in the table.
pub enum Lookup {
    Found(&'static Route, HashMap<String, String>),
    /// The path exists with other methods.
    MethodNotAllowed(Vec<&'static str>),
    NotFound,
}

pub fn lookup(method: &str, path: &str) -> Lookup {
    let mut allowed = Vec::new();
    for route in ROUTES {
        if let Some(params) = match_path(route.path, path) {
            if route.method.eq_ignore_ascii_case(method) {
                return Lookup::Found(route, params);
            }
            allowed.push(route.method);
        }
    }
    if allowed.is_empty() {
        Lookup::NotFound
    } else {
        Lookup::MethodNotAllowed(allowed)
    }
}

/// Matches `path` against a pattern with `{name}` segments, ignoring a trailing slash.
pub fn match_path(pattern: &str, path: &str) -> Option<HashMap<String, String>> {
    let pattern: Vec<&str> = pattern.trim_end_matches('/').split('/').collect();
    let actual: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    if pattern.len() != actual.len() {
        return None;
    }
    let mut params = HashMap::new();
    for (want, got) in pattern.iter().zip(&actual) {
        if let Some(name) = want.strip_prefix('{').and_then(|w| w.strip_suffix('}')) {
            let value = percent_encoding::percent_decode_str(got).decode_utf8().ok()?;
            if value.is_empty() {
                return None;
            }
            params.insert(name.to_string(), value.into_owned());
        } else if want != got {
            return None;
        }
    }
    Some(params)
}

/// What a function answers.
#[derive(Clone, Copy, Debug)]
pub enum Serve {
    /// Only this operation; a request for another is a 404 (the gateway misrouted it).
    Only(Operation),
    /// Every route: the in-process router of the tests.
    All,
}

/// Handles one request end to end. Never fails: every outcome is an HTTP response.
pub async fn handle(state: &AppState, request: Request, serve: Serve) -> Response<Body> {
    let started = Instant::now();
    let method = request.method().as_str().to_string();
    let path = path_of(&request);
    let origin = request
        .headers()
        .get("origin")
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    let (operation, reply) = match lookup(&method, &path) {
        Lookup::MethodNotAllowed(_) if method == "OPTIONS" => (None, cors::preflight(&state.config, origin.as_deref())),
        Lookup::Found(route, params) if serves(serve, route.operation) => {
            (Some(route.operation), run(state, route, request, params).await)
        }
        Lookup::Found(..) => (None, ApiError::not_found("No such route.").into()),
        Lookup::MethodNotAllowed(allowed) => {
            let err = ApiError::new(
                http::StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                format!("{method} is not allowed here."),
            )
            .with("allowed", allowed.clone())
            .with_header("allow", allowed.join(", "));
            (None, err.into())
        }
        Lookup::NotFound => (None, ApiError::not_found(format!("No route for {path}.")).into()),
    };
    let reply = cors::decorate(reply, &state.config, origin.as_deref());
    tracing::info!(
        operation = ?operation,
        %method,
        %path,
        status = reply.status.as_u16(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "request"
    );
    reply.into_response()
}

fn serves(serve: Serve, operation: Operation) -> bool {
    match serve {
        Serve::All => true,
        Serve::Only(only) => only == operation,
    }
}

async fn run(state: &AppState, route: &'static Route, request: Request, params: HashMap<String, String>) -> Reply {
    let mut call = Call::new(state, request, params);
    let mut limit_headers = Vec::new();
    let result = async {
        if let Some(zone) = call.query_param("tz") {
            parse_zone(zone, "tz")?;
        }
        if route.limit == Limit::PerIp {
            let window = ratelimit::count(
                state.store.as_ref(),
                &format!("ip:{}", call.client_ip()),
                state.config.auth_rate_limit_per_minute,
                call.now,
            )
            .await?;
            limit_headers = window.headers();
            if window.exceeded() {
                return Err(window.to_error());
            }
        }
        if route.access == Access::User {
            call.caller = Some(authenticate(state, call.header("authorization"), call.now).await?);
        }
        if route.limit == Limit::PerUser {
            let subject = format!("user:{}", call.user()?.id);
            let window = ratelimit::count(
                state.store.as_ref(),
                &subject,
                state.config.rate_limit_per_minute,
                call.now,
            )
            .await?;
            limit_headers = window.headers();
            if window.exceeded() {
                return Err(window.to_error());
            }
        }
        dispatch(route.operation, &call).await
    }
    .await;
    let mut reply = result.unwrap_or_else(Reply::from);
    reply.headers.extend(limit_headers);
    reply
}

async fn dispatch(operation: Operation, call: &Call<'_>) -> Result<Reply, ApiError> {
    use Operation::*;
    match operation {
        Register => accounts::register(call).await,
        Login => accounts::login(call).await,
        Logout => accounts::logout(call).await,
        GetMe => accounts::get_me(call).await,
        UpdateMe => accounts::update_me(call).await,
        DeleteMe => accounts::delete_me(call).await,
        DeactivateUser => accounts::deactivate_user(call).await,
        ActivateUser => accounts::activate_user(call).await,
        SendChat => chats::send_chat(call).await,
        ListChats => chats::list_chats(call).await,
        DeleteAllChats => chats::delete_all_chats(call).await,
        GetChat => chats::get_chat(call).await,
        UpdateChat => chats::update_chat(call).await,
        DeleteChat => chats::delete_chat(call).await,
        ListMessages => messages::list_messages(call).await,
        EditMessage => messages::edit_message(call).await,
        Regenerate => messages::regenerate(call).await,
        GetTokens => meta::get_tokens(call).await,
        ListModels => meta::list_models(call).await,
        OpenApi => meta::openapi(call).await,
        Health => meta::health(call).await,
        Fallback => Err(ApiError::not_found("No such route.")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_match_with_and_without_the_trailing_slash() {
        let params = match_path("/api/chats/{chat_id}/", "/api/chats/abc").unwrap();
        assert_eq!(params["chat_id"], "abc");
        assert!(match_path("/api/chats/{chat_id}/", "/api/chats/abc/").is_some());
        assert!(match_path("/api/chats/{chat_id}/", "/api/chats/").is_none());
        assert!(match_path("/api/chats/{chat_id}/", "/api/chats/a/b").is_none());
        assert_eq!(
            match_path("/api/users/{username}/deactivate/", "/api/users/a%40b/deactivate").unwrap()["username"],
            "a@b"
        );
    }

    #[test]
    fn lookup_tells_missing_paths_from_wrong_methods() {
        assert!(matches!(lookup("GET", "/api/chats"), Lookup::Found(r, _) if r.operation == Operation::ListChats));
        assert!(
            matches!(lookup("PUT", "/api/chats/"), Lookup::MethodNotAllowed(m) if m == vec!["POST", "GET", "DELETE"])
        );
        assert!(matches!(lookup("GET", "/api/nothing/"), Lookup::NotFound));
    }

    #[test]
    fn every_operation_has_one_route_and_function_names_are_unique() {
        let mut functions: Vec<_> = ROUTES.iter().map(|r| r.function).collect();
        functions.sort();
        functions.dedup();
        assert_eq!(functions.len(), ROUTES.len());
        assert!(functions
            .iter()
            .all(|f| f.chars().all(|c| c.is_ascii_lowercase() || c == '-')));
    }
}
