//! The API's surfaces, one slice each: a surface's routes (its `ROUTES`), its request
//! and response shapes (`shapes`) and its handlers live together under its name.
//! The route table ([`crate::routes::ROUTES`]) is their union.
//!
//! | slice | serves |
//! |---|---|
//! | `accounts` | canonical: accounts, sessions, the profile, API keys |
//! | `chats` | canonical: chats, messages, branches, replies, streams, shares, export/import |
//! | `service` | canonical: balance, models, usage, health, the OpenAPI document |
//! | `openai` | `/v1/…`, for OpenAI's SDKs |
//! | `conversations` | dialect B's Gemini client, and dialect C's `POST /api/chat/` |
//! | `prompts` | dialect D's per-provider prompt routes and chats by day |
//! | `threads` | dialect E's Ollama-style threads and its cookie-session web client |
//! | `web` | the web chat page |
//!
//! Dialect C's token-balance client has no slice of its own: it calls the
//! conversations slice's `POST /api/chat/` and the service slice's `GET /api/tokens/`.
//! Handlers parse, call a domain operation (`crate::conversation`, `crate::accounts`)
//! and shape its answer; shapes common to every surface are in `shapes`.

pub mod accounts;
pub mod chats;
pub mod conversations;
pub mod openai;
pub mod prompts;
pub mod service;
pub mod shapes;
pub mod threads;
pub mod web;

/// The errors every route that calls a model can answer.
const MODEL_ERRORS: &[u16] = &[402, 404, 502, 503, 504];
/// A model route that answers a stored message again: also 409 when there is none
/// yet, or another reply to it was stored meanwhile.
const AGAIN_ERRORS: &[u16] = &[402, 404, 409, 502, 503, 504];

const PAGING: [(&str, &str); 2] = [
    ("limit", "Page size, 1–100 (default 20)."),
    ("cursor", "The next page's cursor, from the Link header."),
];

const USAGE_SPAN: [(&str, &str); 2] = [
    (
        "from",
        "The first day, YYYY-MM-DD in the display zone (default: 29 days before `to`).",
    ),
    (
        "to",
        "The last day, included (default: today); at most 366 days in all.",
    ),
];
