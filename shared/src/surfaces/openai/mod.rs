//! The OpenAI-compatible surface (API.md §2): `/v1/chat/completions` and
//! `/v1/models`, for OpenAI's SDKs.

pub mod handlers;
pub mod shapes;

use crate::http::route::{described, handler, json, media, Limit, Route, Surface};

/// The surface's routes, in the order the document lists them.
pub const ROUTES: &[Route] = &[
    Route::new("POST", "/v1/chat/completions", "openai-api", handler!(handlers::chat_completions))
        .surface(Surface::OpenAi)
        .summary("OpenAI-compatible chat completions, streamed or whole")
        .limit(Limit::PerUser)
        .openai_errors()
        .request(json::<crate::surfaces::openai::shapes::ChatCompletionRequest>())
        .response(
            200,
            media(
                &["application/json", "text/event-stream"],
                "OpenAI's chat.completion object, or chat.completion.chunk server-sent events ending in `data: [DONE]` when `stream` is true.",
            ),
        )
        .errors(&[402, 502, 503, 504]),
    Route::new("GET", "/v1/models", "openai-api", handler!(handlers::list_models))
        .surface(Surface::OpenAi)
        .summary("OpenAI-compatible model list")
        .openai_errors()
        .response(
            200,
            described("OpenAI's model list: {object: \"list\", data: [{id, object, created, owned_by}]}."),
        ),
];
