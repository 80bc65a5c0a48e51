//! The one error type every handler returns: each expected failure carries its HTTP
//! status, a stable snake_case code and a sentence for people (API.md §1).
//!
//! Internal failures (a store or bug) become a generic 500 whose detail goes to the
//! log only, so no internal text can reach a client.

use http::StatusCode;
use serde_json::{Map, Value};

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Fields that help the client act on the error (`field`, `retry_after`, `chat_id`…).
    pub extra: Map<String, Value>,
    /// Headers the error response must carry (`Retry-After`, `Allow`…).
    pub headers: Vec<(&'static str, String)>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            extra: Map::new(),
            headers: Vec::new(),
        }
    }

    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.extra.insert(key.to_string(), value.into());
        self
    }

    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// 400 for one named field of the request.
    pub fn invalid_field(field: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_field", message).with("field", field)
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "not_authenticated", message)
    }

    pub fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, code, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    /// Logs the real cause and answers a 500 that says nothing about it.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "Something went wrong on our side. Please try again.",
        )
    }

    /// The JSON body: `{"error", "code", ...extra}`.
    pub fn body(&self) -> Value {
        let mut body = Map::new();
        body.insert("error".into(), Value::String(self.message.clone()));
        body.insert("code".into(), Value::String(self.code.into()));
        for (key, value) in &self.extra {
            body.insert(key.clone(), value.clone());
        }
        Value::Object(body)
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.code, self.message)
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(err: crate::store::StoreError) -> Self {
        use crate::store::StoreError;
        match err {
            StoreError::Conflict { field } => {
                Self::conflict(field_taken_code(field), format!("That {field} is already taken.")).with("field", field)
            }
            StoreError::Internal(cause) => Self::internal(format!("{cause:#}")),
        }
    }
}

fn field_taken_code(field: &str) -> &'static str {
    match field {
        "username" => "username_taken",
        "email" => "email_taken",
        _ => "conflict",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_has_error_code_and_extra_fields() {
        let err = ApiError::invalid_field("content", "content must not be empty");
        let body = err.body();
        assert_eq!(body["error"], "content must not be empty");
        assert_eq!(body["code"], "invalid_field");
        assert_eq!(body["field"], "content");
        assert_eq!(err.status, StatusCode::BAD_REQUEST);
    }

    #[test]
    fn internal_errors_hide_their_cause() {
        let err = ApiError::internal("disk I/O error at /var/db/secret-path");
        assert_eq!(err.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!err.body().to_string().contains("secret-path"));
    }

    #[test]
    fn store_conflicts_become_409_naming_the_field() {
        let err: ApiError = crate::store::StoreError::Conflict { field: "email" }.into();
        assert_eq!(err.status, StatusCode::CONFLICT);
        assert_eq!(err.code, "email_taken");
        assert_eq!(err.body()["field"], "email");
    }
}
