//! The route table: every operation with its method, path, Lambda function name,
//! access rule and rate limit. The functions, the in-process test router, the
//! OpenAPI document and the consistency test over `template.yaml` and the
//! `cargo lambda watch` router all read this one table.

use std::collections::HashMap;
use std::time::Instant;

use lambda_http::{Body, Request, Response};

use crate::auth::authenticate;
use crate::error::ApiError;
use crate::handlers::{accounts, chats, messages, meta, openai, stream};
use crate::http::call::{path_of, Call};
use crate::http::cors;
use crate::http::reply::{Output, Reply};
use crate::http::stream::{StreamBody, Streamed};
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
    StreamChat,
    ChatCompletions,
    OpenAiModels,
    /// Answers what no route matches: 404, or 405 with `Allow`.
    Fallback,
}

impl Operation {
    /// Operations whose function streams its response (Lambda response streaming
    /// behind a Function URL: API Gateway's HTTP API cannot stream).
    pub fn streams(self) -> bool {
        matches!(
            self,
            Operation::StreamChat | Operation::ChatCompletions | Operation::OpenAiModels
        )
    }

    /// The OpenAI-compatible routes answer errors in OpenAI's shape.
    pub fn openai_errors(self) -> bool {
        matches!(self, Operation::ChatCompletions | Operation::OpenAiModels)
    }
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
    route!(
        StreamChat,
        "POST",
        "/api/chats/stream/",
        "stream-chat",
        User,
        PerUser,
        "Send a message and stream the reply as server-sent events"
    ),
    route!(
        ChatCompletions,
        "POST",
        "/v1/chat/completions",
        "openai-api",
        User,
        PerUser,
        "OpenAI-compatible chat completions, streamed or whole"
    ),
    route!(
        OpenAiModels,
        "GET",
        "/v1/models",
        "openai-api",
        User,
        None,
        "OpenAI-compatible model list"
    ),
];

/// The outcome of looking a request up in the table.
pub enum Lookup {
    Found(&'static Route, HashMap<String, String>),
    /// The path exists with other methods.
    MethodNotAllowed(Vec<&'static str>),
    NotFound,
}

/// Looks `method` and `path` up. Where several patterns match a path, the
/// one with the most literal segments wins, as in API Gateway: `/api/chats/stream/`
/// is the stream route (405 for GET), not a chat whose id is "stream".
pub fn lookup(method: &str, path: &str) -> Lookup {
    let matching: Vec<(&'static Route, HashMap<String, String>)> = ROUTES
        .iter()
        .filter_map(|route| match_path(route.path, path).map(|params| (route, params)))
        .collect();
    let most_specific = matching.iter().map(|(route, _)| literal_segments(route.path)).max();
    let mut allowed = Vec::new();
    for (route, params) in matching {
        if Some(literal_segments(route.path)) != most_specific {
            continue;
        }
        if route.method.eq_ignore_ascii_case(method) {
            return Lookup::Found(route, params);
        }
        allowed.push(route.method);
    }
    if allowed.is_empty() {
        Lookup::NotFound
    } else {
        Lookup::MethodNotAllowed(allowed)
    }
}

fn literal_segments(pattern: &str) -> usize {
    pattern.split('/').filter(|segment| !segment.starts_with('{')).count()
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
    /// The routes the table gives this function (by its binary name); a request
    /// for another is a 404 (the gateway misrouted it).
    Function(&'static str),
    /// Every route: the in-process router of the tests.
    All,
}

/// Handles one request end to end. Never fails: every outcome is an HTTP response.
/// A streamed answer is collected whole (tests, and buffered functions, which
/// never serve a streaming route).
pub async fn handle(state: &AppState, request: Request, serve: Serve) -> Response<Body> {
    match respond(state, request, serve).await {
        Output::Whole(reply) => reply.into_response(),
        Output::Streamed(streamed) => {
            let bytes = match streamed.body.collect().await {
                Ok(collected) => collected.to_bytes().to_vec(),
                Err(err) => {
                    tracing::error!(error = %err, "a streamed body failed");
                    Vec::new()
                }
            };
            let mut response = Response::new(Body::Binary(bytes));
            *response.status_mut() = streamed.status;
            append_headers(response.headers_mut(), streamed.headers);
            response
        }
    }
}

/// Handles one request for a function that uses Lambda response streaming.
pub async fn handle_streaming(state: &AppState, request: Request, serve: Serve) -> Response<StreamBody> {
    let streamed = match respond(state, request, serve).await {
        Output::Streamed(streamed) => streamed,
        Output::Whole(reply) => {
            let mut headers = reply.headers.clone();
            if reply.body.is_some() {
                headers.push(("content-type", "application/json".to_string()));
            }
            let body = reply.body.map(|b| StreamBody::from(b.to_string())).unwrap_or_default();
            Streamed {
                status: reply.status,
                headers,
                body,
            }
        }
    };
    let mut response = Response::new(streamed.body);
    *response.status_mut() = streamed.status;
    append_headers(response.headers_mut(), streamed.headers);
    response
}

fn append_headers(map: &mut http::HeaderMap, headers: Vec<(&'static str, String)>) {
    for (name, value) in headers {
        if let Ok(value) = http::HeaderValue::from_str(&value) {
            map.append(name, value);
        }
    }
}

async fn respond(state: &AppState, request: Request, serve: Serve) -> Output {
    let started = Instant::now();
    let method = request.method().as_str().to_string();
    let path = path_of(&request);
    let origin = request
        .headers()
        .get("origin")
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    let (operation, output) = match lookup(&method, &path) {
        Lookup::MethodNotAllowed(_) if method == "OPTIONS" => {
            (None, Output::Whole(cors::preflight(&state.config, origin.as_deref())))
        }
        Lookup::Found(route, params) if serves(serve, route) => {
            (Some(route.operation), run(state, route, request, params).await)
        }
        Lookup::Found(..) => (None, Output::Whole(ApiError::not_found("No such route.").into())),
        Lookup::MethodNotAllowed(allowed) => {
            let err = ApiError::new(
                http::StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                format!("{method} is not allowed here."),
            )
            .with("allowed", allowed.clone())
            .with_header("allow", allowed.join(", "));
            (None, Output::Whole(err.into()))
        }
        Lookup::NotFound => (
            None,
            Output::Whole(ApiError::not_found(format!("No route for {path}.")).into()),
        ),
    };
    let cors_headers = cors::headers(&state.config, origin.as_deref());
    let output = match output {
        Output::Whole(mut reply) => {
            reply.headers.extend(cors_headers);
            Output::Whole(reply)
        }
        Output::Streamed(mut streamed) => {
            streamed.headers.extend(cors_headers);
            Output::Streamed(streamed)
        }
    };
    let status = match &output {
        Output::Whole(reply) => reply.status.as_u16(),
        Output::Streamed(streamed) => streamed.status.as_u16(),
    };
    tracing::info!(operation = ?operation, %method, %path, status, elapsed_ms = started.elapsed().as_millis() as u64, "request");
    output
}

fn serves(serve: Serve, route: &Route) -> bool {
    match serve {
        Serve::All => true,
        Serve::Function(name) => route.function == name,
    }
}

/// Admits the request (time zone, rate limits, authentication) and dispatches it.
/// The rate-limit headers go on every answer of a limited route, errors included.
async fn run(state: &AppState, route: &'static Route, request: Request, params: HashMap<String, String>) -> Output {
    let mut call = Call::new(state, request, params);
    let mut limit_headers = Vec::new();
    let result = async {
        if let Some(zone) = call.query_param("tz") {
            parse_zone(zone, "tz")?;
        }
        if route.limit == Limit::PerIp {
            let subject = format!("ip:{}", call.client_ip());
            let window = ratelimit::count(
                state.store.as_ref(),
                &subject,
                state.config.auth_rate_limit_per_minute,
                call.now,
            )
            .await?;
            limit_headers = window.headers();
            window.check()?;
        }
        if route.access == Access::User {
            call.caller = Some(authenticate(state.store.as_ref(), call.header("authorization"), call.now).await?);
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
            window.check()?;
        }
        dispatch(route.operation, &call).await
    }
    .await;
    match result {
        Ok(Output::Whole(mut reply)) => {
            reply.headers.extend(limit_headers);
            Output::Whole(reply)
        }
        Ok(Output::Streamed(mut streamed)) => {
            streamed.headers.extend(limit_headers);
            Output::Streamed(streamed)
        }
        Err(err) => {
            let mut reply = if route.operation.openai_errors() {
                openai::error_reply(err)
            } else {
                Reply::from(err)
            };
            reply.headers.extend(limit_headers);
            Output::Whole(reply)
        }
    }
}

async fn dispatch(operation: Operation, call: &Call<'_>) -> Result<Output, ApiError> {
    use Operation::*;
    let whole = match operation {
        StreamChat => return stream::stream_chat(call).await,
        ChatCompletions => return openai::chat_completions(call).await,
        OpenAiModels => openai::list_models(call).await,
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
    };
    whole.map(Output::Whole)
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
    fn a_literal_segment_wins_over_a_parameter() {
        // The stream route is POST only; GET must not become "the chat with id stream".
        assert!(matches!(lookup("GET", "/api/chats/stream/"), Lookup::MethodNotAllowed(m) if m == vec!["POST"]));
        assert!(
            matches!(lookup("POST", "/api/chats/stream"), Lookup::Found(r, _) if r.operation == Operation::StreamChat)
        );
        let id = "0b0e7a5e-8c4f-4d8e-9d55-1f0c3c7c2b10";
        assert!(
            matches!(lookup("GET", &format!("/api/chats/{id}/")), Lookup::Found(r, p) if r.operation == Operation::GetChat && p["chat_id"] == id)
        );
    }

    #[test]
    fn functions_are_kebab_case_and_never_mix_streaming_with_buffered_routes() {
        for route in ROUTES {
            assert!(
                route.function.chars().all(|c| c.is_ascii_lowercase() || c == '-'),
                "{}",
                route.function
            );
            for other in ROUTES.iter().filter(|o| o.function == route.function) {
                assert_eq!(
                    route.operation.streams(),
                    other.operation.streams(),
                    "{}",
                    route.function
                );
            }
        }
        let mut operations: Vec<_> = ROUTES.iter().map(|r| format!("{:?}", r.operation)).collect();
        operations.sort();
        operations.dedup();
        assert_eq!(operations.len(), ROUTES.len(), "one route per operation");
        let functions: std::collections::BTreeSet<_> = ROUTES.iter().map(|r| r.function).collect();
        assert_eq!(functions.len(), ROUTES.len() - 1, "only openai-api serves two routes");
    }
}
