//! What a handler answers, and its conversion to a Lambda HTTP response.

use std::borrow::Cow;

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
    pub body: Payload,
    pub headers: Vec<(&'static str, String)>,
}

/// A whole reply's body.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    Empty,
    /// Every API answer: sent as `application/json`.
    Json(Value),
    /// A file served as it is (the web page's HTML, CSS and JavaScript, embedded
    /// in the binary), or a kept answer replayed, with its media type.
    Bytes {
        content_type: Cow<'static, str>,
        bytes: Cow<'static, [u8]>,
    },
}

impl Payload {
    /// The JSON body, if it is one.
    pub fn json(&self) -> Option<&Value> {
        match self {
            Payload::Json(value) => Some(value),
            _ => None,
        }
    }

    /// The `Content-Type` it is sent with, if it has a body.
    pub fn content_type(&self) -> Option<&str> {
        match self {
            Payload::Empty => None,
            Payload::Json(_) => Some("application/json"),
            Payload::Bytes { content_type, .. } => Some(content_type),
        }
    }
}

impl Reply {
    pub fn json(status: StatusCode, body: impl Serialize) -> Result<Self, ApiError> {
        let body = serde_json::to_value(body).map_err(ApiError::internal)?;
        Ok(Self {
            status,
            body: Payload::Json(body),
            headers: Vec::new(),
        })
    }

    /// `200` with a file's bytes and media type.
    pub fn file(content_type: &'static str, bytes: impl Into<Cow<'static, [u8]>>) -> Self {
        Self {
            status: StatusCode::OK,
            body: Payload::Bytes {
                content_type: Cow::Borrowed(content_type),
                bytes: bytes.into(),
            },
            headers: Vec::new(),
        }
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
            body: Payload::Empty,
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
            body: Payload::Json(err.body()),
            headers: err.headers.clone(),
        }
    }
}

impl Reply {
    pub fn into_response(self) -> Response<Body> {
        let content_type = self.body.content_type().and_then(|t| HeaderValue::from_str(t).ok());
        let mut response = Response::new(match self.body {
            Payload::Empty => Body::Empty,
            Payload::Json(body) => Body::Text(body.to_string()),
            Payload::Bytes { bytes, .. } => Body::Binary(bytes.into_owned()),
        });
        *response.status_mut() = self.status;
        let headers = response.headers_mut();
        if let Some(content_type) = content_type {
            headers.insert(http::header::CONTENT_TYPE, content_type);
        }
        for (name, value) in self.headers {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.append(name, value);
            }
        }
        response
    }
}
