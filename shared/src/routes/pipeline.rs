//! The request pipeline every function runs: look the route up, answer CORS
//! preflights, 404 and 405, admit the request (time zone, rate limits,
//! authentication), call the route's handler, and add the CORS and rate-limit
//! headers. Nothing here is specific to one route: that is all in the table.

use std::collections::HashMap;
use std::time::Instant;

use lambda_http::{Body, Request, Response};

use crate::auth::{authenticate_api_key, authenticate_token, token, AuthError, Caller, Credential, API_KEY_PREFIX};
use crate::error::ApiError;
use crate::http::call::{path_of, Call};
use crate::http::idempotency::{self, Admission};
use crate::http::reply::{Output, Payload, Reply};
use crate::http::stream::{StreamBody, Streamed};
use crate::http::{cookie, cors, csrf};
use crate::ratelimit;
use crate::state::AppState;
use crate::surfaces::openai::handlers as openai;
use crate::time::parse_zone;

use super::lookup::{lookup_in, Lookup};
use crate::http::route::{Access, Errors, Limit, Route};

/// What a function answers, and the routes it looks requests up in. The pipeline
/// names no table itself: a function's binary links the handlers of the routes it
/// is given, and no others.
#[derive(Clone, Copy, Debug)]
pub enum Serve {
    /// The function `name` (its binary name), over `routes`: its own entries of the
    /// table, chosen at compile time by [`routes_of!`](crate::routes_of). A request
    /// for a route it does not serve is a 404 (the gateway misrouted it). The
    /// fallback function is given the whole table and serves none of it: a 404, or
    /// a 405 with Allow.
    Function {
        name: &'static str,
        routes: &'static [Route],
    },
    /// Every route of `routes` (the whole table): the in-process router of the tests.
    All(&'static [Route]),
}

impl Serve {
    fn routes(self) -> &'static [Route] {
        match self {
            Serve::Function { routes, .. } | Serve::All(routes) => routes,
        }
    }
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
            if let Some(content_type) = reply.body.content_type() {
                headers.push(("content-type", content_type.to_string()));
            }
            let body = match reply.body {
                Payload::Empty => StreamBody::default(),
                Payload::Json(body) => StreamBody::from(body.to_string()),
                Payload::Bytes { bytes, .. } => StreamBody::from(bytes),
            };
            Streamed {
                status: reply.status,
                headers,
                body,
                finished: Default::default(),
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
    let (route, output) = match lookup_in(serve.routes(), &method, &path) {
        Lookup::MethodNotAllowed(_) if method == "OPTIONS" => {
            (None, Output::Whole(cors::preflight(&state.config, origin.as_deref())))
        }
        Lookup::Found(route, params) if serves(serve, route) => (Some(route), run(state, route, request, params).await),
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
    // A route is named by its function and pattern (a function may serve several).
    let function = route.map(|r| r.function);
    let route = route.map(|r| r.path);
    tracing::info!(function, route, %method, %path, status, elapsed_ms = started.elapsed().as_millis() as u64, "request");
    output
}

/// The caller, by the `Authorization` header or else by the session cookie. A
/// header always wins (an API client's explicit choice); a cookie-authenticated
/// request must first pass the cross-site request check.
/// A personal API key is let in only where `api_keys` (the OpenAI-compatible routes).
async fn authenticate_call(call: &Call<'_>, api_keys: bool) -> Result<Caller, ApiError> {
    let state = call.state;
    if let Some(header) = call.header("authorization") {
        let presented = token::from_authorization(Some(header))?;
        if presented.starts_with(API_KEY_PREFIX) {
            if !api_keys {
                return Err(AuthError::ApiKeyNotAccepted.into());
            }
            return Ok(authenticate_api_key(state.api_keys(), presented, call.now).await?);
        }
        return Ok(authenticate_token(state.tokens(), presented, Credential::Header, call.now).await?);
    }
    let name = &state.config.session_cookie.name;
    let Some(token) = cookie::value(call.request.headers(), name)? else {
        return Err(AuthError::NoCredentials.into());
    };
    csrf::check(&state.config, &csrf::Source::of(call))?;
    Ok(authenticate_token(state.tokens(), token, Credential::Cookie, call.now).await?)
}

fn serves(serve: Serve, route: &Route) -> bool {
    match serve {
        Serve::All(_) => true,
        Serve::Function { name, .. } => route.function == name,
    }
}

/// Counts the request in `subject`'s window and sets the rate-limit headers
/// (which a 429 carries too).
async fn count(
    call: &Call<'_>,
    subject: &str,
    limit: u32,
    headers: &mut Vec<(&'static str, String)>,
) -> Result<(), ApiError> {
    let window = ratelimit::count(call.state.limits(), subject, limit, call.now).await?;
    *headers = window.headers();
    window.check()?;
    Ok(())
}

/// Admits the request (time zone, rate limits, authentication) and dispatches it.
/// The rate-limit headers go on every answer of a limited route, errors included.
async fn run(state: &AppState, route: &'static Route, request: Request, params: HashMap<String, String>) -> Output {
    let mut call = Call::new(state, request, params);
    let mut limit_headers = Vec::new();
    let result = async {
        if route.limit == Limit::PerIp {
            let subject = format!("ip:{}", call.client_ip());
            count(
                &call,
                &subject,
                state.config.auth_rate_limit_per_minute,
                &mut limit_headers,
            )
            .await?;
        }
        if route.access == Access::User {
            call.caller = Some(authenticate_call(&call, route.takes_api_keys()).await?);
        }
        // After authentication: a caller without credentials learns only that (401).
        if let Some(zone) = call.query_param("tz") {
            parse_zone(zone, "tz")?;
        }
        let per_user = match route.limit {
            Limit::PerUser => Some(("user", state.config.rate_limit_per_minute)),
            Limit::Write => Some(("write", state.config.write_rate_limit_per_minute)),
            Limit::Search if call.query_param("search").is_some_and(|s| !s.trim().is_empty()) => {
                Some(("write", state.config.write_rate_limit_per_minute))
            }
            Limit::Search | Limit::PerIp | Limit::None => None,
        };
        if let Some((window, limit)) = per_user {
            let subject = format!("{window}:{}", call.user()?.id);
            count(&call, &subject, limit, &mut limit_headers).await?;
        }
        if !route.charges() {
            return (route.handler)(&call).await;
        }
        match idempotency::admit(&call, route.path).await? {
            Admission::Replay(reply) => Ok(Output::Whole(reply)),
            Admission::Run(None) => (route.handler)(&call).await,
            Admission::Run(Some(keyed)) => keyed.keep((route.handler)(&call).await).await,
        }
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
            let mut reply = if route.errors == Errors::OpenAi {
                openai::error_reply(err)
            } else {
                Reply::from(err)
            };
            reply.headers.extend(limit_headers);
            Output::Whole(reply)
        }
    }
}
