//! What a handler answers, and its conversion to a Lambda HTTP response.

use http::{HeaderValue, StatusCode};
use lambda_http::{Body, Response};
use serde::Serialize;
use serde_json::Value;

use super::stream::Streamed;
use crate::error::ApiError;

/// A route's answer: whole, or written as it is produced.
pub enum Output {
    Whole(Reply),
    Streamed(Streamed),
}

/// A whole reply is an output: what lets the route table wrap handlers that answer
/// either.
impl From<Reply> for Output {
    fn from(reply: Reply) -> Self {
        Output::Whole(reply)
    }
}

#[derive(Debug, Clone)]
pub struct Reply {
    pub status: StatusCode,
    pub body: Option<Value>,
    pub headers: Vec<(&'static str, String)>,
}

impl Reply {
    pub fn json(status: StatusCode, body: impl Serialize) -> Result<Self, ApiError> {
        let body = serde_json::to_value(body).map_err(ApiError::internal)?;
        Ok(Self {
            status,
            body: Some(body),
            headers: Vec::new(),
        })
    }

    pub fn ok(body: impl Serialize) -> Result<Self, ApiError> {
        Self::json(StatusCode::OK, body)
    }

    pub fn created(body: impl Serialize) -> Result<Self, ApiError> {
        Self::json(StatusCode::CREATED, body)
    }

    pub fn no_content() -> Self {
        Self {
            status: StatusCode::NO_CONTENT,
            body: None,
            headers: Vec::new(),
        }
    }

    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
}

impl From<ApiError> for Reply {
    fn from(err: ApiError) -> Self {
        Self {
            status: err.status,
            body: Some(err.body()),
            headers: err.headers.clone(),
        }
    }
}

impl Reply {
    pub fn into_response(self) -> Response<Body> {
        let mut response = Response::new(match &self.body {
            Some(body) => Body::Text(body.to_string()),
            None => Body::Empty,
        });
        *response.status_mut() = self.status;
        let headers = response.headers_mut();
        if self.body.is_some() {
            headers.insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        for (name, value) in self.headers {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.append(name, value);
            }
        }
        response
    }
}
