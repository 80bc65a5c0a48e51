//! One HTTP call to the API, timed, with its status, JSON body and `Link` header.

use serde_json::Value;
use std::time::{Duration, Instant};

#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
}

pub struct Answer {
    pub status: u16,
    pub body: Value,
    /// The next page's path and query, from `Link: <…>; rel="next"`.
    pub next: Option<String>,
    pub latency: Duration,
}

impl Client {
    pub fn new(base: &str) -> Self {
        Self {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(120))
                .build()
                .expect("an HTTP client"),
            base: base.to_string(),
        }
    }

    /// `path` starts at the API's root (`/api/…`); a transport error is `Err`.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Result<Answer, String> {
        let method = reqwest::Method::from_bytes(method.as_bytes()).map_err(|e| e.to_string())?;
        let mut request = self.http.request(method.clone(), format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.header("authorization", format!("Token {token}"));
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let started = Instant::now();
        let response = request.send().await.map_err(|e| format!("{method} {path}: {e}"))?;
        let status = response.status().as_u16();
        let next = response
            .headers()
            .get("link")
            .and_then(|v| v.to_str().ok())
            .and_then(next_link);
        let bytes = response
            .bytes()
            .await
            .map_err(|e| format!("{method} {path}: body: {e}"))?;
        let latency = started.elapsed();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Ok(Answer {
            status,
            body,
            next,
            latency,
        })
    }
}

/// The path and query of `<URL>; rel="next"`, whatever host the URL names.
fn next_link(header: &str) -> Option<String> {
    let part = header.split(',').find(|p| p.contains("rel=\"next\""))?;
    let url = part.split('<').nth(1)?.split('>').next()?;
    let path = match url.find("://") {
        Some(scheme) => &url[scheme + 3 + url[scheme + 3..].find('/')?..],
        None => url,
    };
    Some(path.to_string())
}

#[cfg(test)]
mod tests {
    use super::next_link;

    #[test]
    fn the_next_link_is_its_path_and_query() {
        assert_eq!(
            next_link("<http://127.0.0.1:9000/api/chats/?cursor=abc&limit=5>; rel=\"next\"").as_deref(),
            Some("/api/chats/?cursor=abc&limit=5")
        );
        assert_eq!(
            next_link("</api/x/?cursor=1>; rel=\"next\"").as_deref(),
            Some("/api/x/?cursor=1")
        );
        assert_eq!(next_link("<http://h/a>; rel=\"prev\""), None);
    }
}
