//! `Idempotency-Key` on the routes that charge (API.md §6): a client that retries a
//! send it never heard back from gets the first answer again (same ids, one
//! charge) instead of a second reply. The key is claimed before the handler runs;
//! a whole answer is kept before it is returned, a streamed one before its stream
//! ends, so a retry that arrives afterwards always finds it.
//!
//! Only a success is kept. Any other answer (a 402, a 429, a provider's 503, an
//! `error` event) gives the key up, so the retry runs again: nothing was charged
//! for it, or the charge was refunded.

use std::borrow::Cow;
use std::sync::Arc;

use bytes::Bytes;
use chrono::Duration;
use futures::StreamExt as _;
use http::StatusCode;
use lambda_http::lambda_runtime::streaming;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::call::Call;
use super::reply::{Output, Payload, Reply};
use super::stream::Streamed;
use crate::error::ApiError;
use crate::store::{Claim, IdempotencyKeys, KeptAnswer, KeyedRequest};

/// The request header, as HTTP/2 and API Gateway deliver it (lower case).
pub const HEADER: &str = "idempotency-key";
/// A key is 1 to this many printable ASCII characters.
pub const MAX_KEY_CHARS: usize = 255;
/// How long a key answers with its first answer.
pub const KEY_LIFETIME_HOURS: i64 = 24;
/// `Retry-After` of a retry that meets its first request still running.
pub const IN_PROGRESS_RETRY_AFTER_SECS: u64 = 1;
/// The longest answer kept: a DynamoDB item holds at most 400 KB. A longer one
/// (a reply near a raised `MAX_REPLY_TOKENS`, streamed) gives its key up.
pub const MAX_KEPT_BYTES: usize = 300 * 1024;
/// Set on a replayed answer, so a client can tell it did not run again.
pub const REPLAYED_HEADER: &str = "idempotent-replayed";

/// What to do with a request that may carry a key.
pub enum Admission {
    /// Run the handler; with a key, keep its answer through [`Keyed::keep`].
    Run(Option<Keyed>),
    /// The key's first answer, replayed.
    Replay(Reply),
}

/// A claimed key, to be finished with the request's answer.
pub struct Keyed {
    store: Arc<dyn IdempotencyKeys>,
    request: KeyedRequest,
}

/// The key a request carries, checked: `None` without the header.
fn key_of(call: &Call<'_>) -> Result<Option<String>, ApiError> {
    let Some(raw) = call.request.headers().get(HEADER) else {
        return Ok(None);
    };
    let printable = |bytes: &[u8]| bytes.iter().all(|b| (b' '..=b'~').contains(b));
    let bytes = raw.as_bytes();
    if bytes.is_empty() || bytes.len() > MAX_KEY_CHARS || !printable(bytes) {
        return Err(ApiError::invalid_field(
            "Idempotency-Key",
            format!("Idempotency-Key must be 1 to {MAX_KEY_CHARS} printable ASCII characters."),
        ));
    }
    Ok(Some(String::from_utf8_lossy(bytes).into_owned()))
}

/// SHA-256 (hex) of `parts`, each prefixed by its length so no two lists of parts
/// hash alike.
fn digest(parts: &[&[u8]]) -> String {
    let mut hash = Sha256::new();
    for part in parts {
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part);
    }
    hex::encode(hash.finalize())
}

/// What the request asks: method, path (with its ids), query and body.
fn request_digest(call: &Call<'_>) -> String {
    let mut query: Vec<(&String, &String)> = call.query.iter().collect();
    query.sort();
    let query: Vec<u8> = query
        .into_iter()
        .flat_map(|(name, value)| [name.as_bytes(), b"=", value.as_bytes(), b"&"].concat())
        .collect();
    digest(&[
        call.request.method().as_str().as_bytes(),
        call.path().as_bytes(),
        &query,
        call.body_bytes(),
    ])
}

/// Claims the request's key, or answers for it: the first answer (same request),
/// 422 `idempotency_key_reused` (another request), 409 `idempotency_in_progress`
/// (the first still running). `route` is the route's pattern (a key is the
/// user's on one route). Call it once the caller is known.
pub async fn admit(call: &Call<'_>, route: &str) -> Result<Admission, ApiError> {
    let Some(key) = key_of(call)? else {
        return Ok(Admission::Run(None));
    };
    let user = call.user()?;
    let config = &call.state.config;
    let request = KeyedRequest {
        user_id: user.id,
        key_digest: digest(&[
            call.request.method().as_str().as_bytes(),
            route.as_bytes(),
            key.as_bytes(),
        ]),
        request_digest: request_digest(call),
        claim: Uuid::now_v7(),
        created_at: call.now,
        // As long as a request may run: a claim older than that was abandoned.
        running_until: call.now + Duration::seconds(config.pending_charge_secs),
        expires_at: call.now + Duration::hours(KEY_LIFETIME_HOURS),
        answer: None,
    };
    let store: Arc<dyn IdempotencyKeys> = call.state.store.clone();
    match store.claim_key(&request, call.now).await? {
        Claim::Taken => Ok(Admission::Run(Some(Keyed { store, request }))),
        Claim::Held(held) if held.request_digest != request.request_digest => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency_key_reused",
            "This Idempotency-Key was used for a different request in the last 24 hours; use a new key.",
        )),
        Claim::Held(KeyedRequest {
            answer: Some(answer), ..
        }) => Ok(Admission::Replay(replay(answer))),
        Claim::Held(_) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "idempotency_in_progress",
            "A request with this Idempotency-Key is still running; try again in a second for its answer.",
        )
        .with("retry_after", IN_PROGRESS_RETRY_AFTER_SECS)
        .with_header("retry-after", IN_PROGRESS_RETRY_AFTER_SECS.to_string())),
    }
}

/// A kept answer as it was first sent (a stream as one body with every event).
fn replay(answer: KeptAnswer) -> Reply {
    let body = match answer.content_type {
        Some(content_type) => Payload::Bytes {
            content_type: Cow::Owned(content_type),
            bytes: Cow::Owned(answer.body.into_bytes()),
        },
        None => Payload::Empty,
    };
    Reply {
        status: StatusCode::from_u16(answer.status).unwrap_or(StatusCode::OK),
        body,
        headers: vec![(REPLAYED_HEADER, "true".to_string())],
    }
}

impl Keyed {
    /// Keeps the handler's answer for the key (a success), or gives the key up.
    pub async fn keep(self, output: Result<Output, ApiError>) -> Result<Output, ApiError> {
        match output {
            Ok(Output::Whole(reply)) => {
                let kept = reply.status.is_success().then(|| whole_answer(&reply)).flatten();
                self.end(kept).await;
                Ok(Output::Whole(reply))
            }
            Ok(Output::Streamed(streamed)) if streamed.status.is_success() => Ok(Output::Streamed(self.tee(streamed))),
            other => {
                self.end(None).await;
                other
            }
        }
    }

    /// Keeps `answer`, or releases the key without one. A store failure here is
    /// logged, not answered: the reply is paid for and must reach its client. The
    /// claim then stands until its running time is over.
    async fn end(self, answer: Option<KeptAnswer>) {
        let result = match &answer {
            Some(answer) => self.store.finish_key(&self.request, answer).await,
            None => self.store.release_key(&self.request).await,
        };
        if let Err(err) = result {
            tracing::warn!(error = %err, kept = answer.is_some(), "an idempotency key could not be ended");
        }
    }

    /// Passes the stream on while copying it; at its end, keeps the copy if the
    /// writer finished its answer, and only then ends the client's stream.
    fn tee(self, streamed: Streamed) -> Streamed {
        let (mut sender, body) = streaming::channel();
        let Streamed {
            status,
            headers,
            body: mut source,
            finished,
        } = streamed;
        let content_type = headers
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case("content-type"))
            .map(|(_, value)| value.clone());
        let writer_done = finished.clone();
        tokio::spawn(async move {
            let mut copy: Vec<u8> = Vec::new();
            while let Some(piece) = source.next().await {
                let data = match piece {
                    Ok(data) => data,
                    // The writer aborted (a failure after text): no answer to keep.
                    Err(_) => {
                        self.end(None).await;
                        sender.abort();
                        return;
                    }
                };
                copy.extend_from_slice(&data);
                if sender.send_data(Bytes::clone(&data)).await.is_err() {
                    // The client left: dropping `source` tells the writer, whose
                    // reply is then billed for what reached the client or refunded.
                    self.end(None).await;
                    return;
                }
            }
            let kept = match String::from_utf8(copy) {
                Ok(body) if writer_done.is_marked() && body.len() <= MAX_KEPT_BYTES => Some(KeptAnswer {
                    status: status.as_u16(),
                    content_type,
                    body,
                }),
                _ => None,
            };
            self.end(kept).await;
        });
        Streamed {
            status,
            headers,
            body,
            finished,
        }
    }
}

/// A whole success as it is kept: JSON or text within [`MAX_KEPT_BYTES`].
fn whole_answer(reply: &Reply) -> Option<KeptAnswer> {
    let body = match &reply.body {
        Payload::Empty => String::new(),
        Payload::Json(value) => value.to_string(),
        Payload::Bytes { bytes, .. } => String::from_utf8(bytes.to_vec()).ok()?,
    };
    (body.len() <= MAX_KEPT_BYTES).then(|| KeptAnswer {
        status: reply.status.as_u16(),
        content_type: reply.body.content_type().map(String::from),
        body,
    })
}
