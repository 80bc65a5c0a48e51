//! One request as handlers see it: the route's path parameters, the query, the
//! authenticated user (when the route needs one) and typed accessors that turn bad
//! input into 4xx errors.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt};
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use uuid::Uuid;

use super::body::parse_json;
pub use crate::auth::Caller;
use crate::auth::Credential;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::User;
use crate::time::parse_zone;

pub struct Call<'a> {
    pub state: &'a AppState,
    pub request: Request,
    pub params: HashMap<String, String>,
    pub query: HashMap<String, String>,
    pub caller: Option<Caller>,
    /// One instant for the whole request, so every time it records agrees.
    pub now: DateTime<Utc>,
}

impl<'a> Call<'a> {
    pub fn new(state: &'a AppState, request: Request, params: HashMap<String, String>) -> Self {
        let query = request
            .uri()
            .query()
            .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
            .unwrap_or_default();
        let now = state.now();
        Self {
            state,
            request,
            params,
            query,
            caller: None,
            now,
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.request.headers().get(name).and_then(|v| v.to_str().ok())
    }

    /// The path as the client sent it, without an API Gateway stage prefix.
    pub fn path(&self) -> String {
        path_of(&self.request)
    }

    /// The caller; routes that require authentication always have one.
    pub fn caller(&self) -> Result<&Caller, ApiError> {
        self.caller
            .as_ref()
            .ok_or_else(|| ApiError::unauthenticated("Authentication credentials were not provided."))
    }

    /// The personal API key that authenticated the request, if one did.
    pub fn api_key(&self) -> Option<Uuid> {
        match self.caller.as_ref()?.credential {
            Credential::ApiKey(id) => Some(id),
            _ => None,
        }
    }

    pub fn user(&self) -> Result<&User, ApiError> {
        Ok(&self.caller()?.user)
    }

    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        parse_json(self.body_bytes(), self.header("content-type"))
    }

    /// The raw request body (empty when there is none).
    pub fn body_bytes(&self) -> &[u8] {
        match self.request.body() {
            Body::Empty => &[],
            Body::Text(text) => text.as_bytes(),
            Body::Binary(bytes) => bytes,
            _ => &[],
        }
    }

    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query.get(name).map(String::as_str)
    }

    /// A boolean query flag: `true`/`1`/`yes` or `false`/`0`/`no`.
    pub fn query_flag(&self, name: &str) -> Result<bool, ApiError> {
        match self.query_param(name).map(|v| v.to_ascii_lowercase()) {
            None => Ok(false),
            Some(v) if ["true", "1", "yes"].contains(&v.as_str()) => Ok(true),
            Some(v) if ["false", "0", "no", ""].contains(&v.as_str()) => Ok(false),
            Some(_) => Err(ApiError::invalid_field(
                name,
                format!("`{name}` must be true or false."),
            )),
        }
    }

    /// A UUID path parameter; anything else is a 400 naming it.
    pub fn path_uuid(&self, name: &str) -> Result<Uuid, ApiError> {
        let raw = self.params.get(name).map(String::as_str).unwrap_or_default();
        parse_uuid(raw, name)
    }

    /// A chat number path parameter (dialects B and E): a positive integer, else a
    /// 400 naming it.
    pub fn path_number(&self, name: &str) -> Result<i64, ApiError> {
        let raw = self.params.get(name).map(String::as_str).unwrap_or_default();
        parse_number(raw, name)
    }

    pub fn path_param(&self, name: &str) -> &str {
        self.params.get(name).map(String::as_str).unwrap_or_default()
    }

    /// The zone times are shown in: `?tz=`, else the user's, else the configured one.
    pub fn display_zone(&self) -> Result<Tz, ApiError> {
        if let Some(name) = self.query_param("tz") {
            return parse_zone(name, "tz");
        }
        let user_zone = self.caller.as_ref().and_then(|c| c.user.time_zone.as_deref());
        Ok(user_zone
            .and_then(|name| name.parse().ok())
            .unwrap_or(self.state.config.display_time_zone))
    }

    /// The client's address as API Gateway saw it (the TCP peer, not a header a client
    /// could forge).
    pub fn client_ip(&self) -> String {
        match self.request.request_context_ref() {
            Some(RequestContext::ApiGatewayV2(context)) => context.http.source_ip.clone(),
            _ => None,
        }
        .unwrap_or_else(|| "unknown".to_string())
    }
}

pub fn parse_uuid(raw: &str, field: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw.trim()).map_err(|_| ApiError::invalid_field(field, format!("`{field}` must be a UUID.")))
}

/// A chat number as a client sends it (in a path or a body field).
pub fn parse_number(raw: &str, field: &str) -> Result<i64, ApiError> {
    raw.trim()
        .parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| ApiError::invalid_field(field, format!("`{field}` must be a chat number (1, 2, 3…).")))
}

/// The request's path without any stage prefix.
pub fn path_of(request: &Request) -> String {
    let raw = request.raw_http_path();
    if raw.is_empty() {
        request.uri().path().to_string()
    } else {
        raw.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chat_numbers_are_positive_integers_or_a_400_naming_the_field() {
        assert_eq!(parse_number("7", "id").unwrap(), 7);
        assert_eq!(parse_number(" 12 ", "id").unwrap(), 12);
        for bad in ["0", "-1", "x", "", "1.5", "99999999999999999999"] {
            let err = parse_number(bad, "thread_id").unwrap_err();
            assert_eq!(err.status.as_u16(), 400, "{bad:?}");
            assert_eq!(err.body()["field"], "thread_id");
        }
    }
}
