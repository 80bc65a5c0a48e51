//! The prompts surface (API.md §4, dialect D): a prompt route per provider, chats by
//! a client-chosen UUID and by day; every route also answers under `/api/`.

pub mod handlers;
pub mod shapes;

use self::shapes::{PromptRequest, PromptResponse};
use super::{MODEL_ERRORS, PAGING};
use crate::http::route::{handler, json, list, Limit, Route, Surface};
use crate::surfaces::chats::shapes::chats::{ChatView, MessageView};

// Dialect D (API.md §4): its routes, each also under `/api/` (its client calls
// either); one definition each, listed twice in `ROUTES`.
const D_PROMPT_GPT: Route = Route::new("POST", "/prompt_gpt/", "send-chat", handler!(handlers::prompt_gpt))
    .surface(Surface::Prompts)
    .summary("Dialect D: ask OpenAI in a chat (a client-chosen UUID); 201 {reply}")
    .limit(Limit::PerUser)
    .request(json::<PromptRequest>())
    .response(201, json::<PromptResponse>())
    .errors(MODEL_ERRORS);

const D_PROMPT_GEMINI: Route = Route::new(
    "POST",
    "/prompt_gemini/",
    "send-chat",
    handler!(handlers::prompt_gemini),
)
.surface(Surface::Prompts)
.summary("Dialect D: ask Gemini in a chat (a client-chosen UUID); 201 {reply}")
.limit(Limit::PerUser)
.request(json::<PromptRequest>())
.response(201, json::<PromptResponse>())
.errors(MODEL_ERRORS);

const D_CHAT_MESSAGES: Route = Route::new(
    "GET",
    "/get_chat_messages/{chat_id}/",
    "list-messages",
    handler!(crate::surfaces::chats::messages::list_messages),
)
.surface(Surface::Prompts)
.summary("Dialect D: a chat's messages, oldest first")
.response(200, list::<MessageView>())
.errors(&[404])
.query(&PAGING);

const D_TODAYS_CHATS: Route = Route::new("GET", "/todays_chat/", "list-chats", handler!(handlers::todays_chats))
    .surface(Surface::Prompts)
    .summary("Dialect D: up to 10 chats started today, newest first (days of the display zone)")
    .response(200, list::<ChatView>());

const D_YESTERDAYS_CHATS: Route = Route::new(
    "GET",
    "/yesterdays_chat/",
    "list-chats",
    handler!(handlers::yesterdays_chats),
)
.surface(Surface::Prompts)
.summary("Dialect D: up to 10 chats started yesterday, newest first (days of the display zone)")
.response(200, list::<ChatView>());

const D_SEVEN_DAYS_CHATS: Route = Route::new(
    "GET",
    "/seven_days_chat/",
    "list-chats",
    handler!(handlers::seven_days_chats),
)
.surface(Surface::Prompts)
.summary("Dialect D: up to 10 chats started the seven days before yesterday, newest first (days of the display zone)")
.response(200, list::<ChatView>());

/// The surface's routes, in the order the document lists them.
pub const ROUTES: &[Route] = &[
    // Dialect C (API.md §4): the token balance.
    // (Its `POST /api/chat/` is dialect B's route; `GET /api/tokens/` and register
    // are the canonical ones.)
    // Dialect D (API.md §4): GPT/Gemini by route, also under /api/.
    D_PROMPT_GPT,
    D_PROMPT_GEMINI,
    D_CHAT_MESSAGES,
    D_TODAYS_CHATS,
    D_YESTERDAYS_CHATS,
    D_SEVEN_DAYS_CHATS,
    D_PROMPT_GPT.alias("/api/prompt_gpt/"),
    D_PROMPT_GEMINI.alias("/api/prompt_gemini/"),
    D_CHAT_MESSAGES.alias("/api/get_chat_messages/{chat_id}/"),
    D_TODAYS_CHATS.alias("/api/todays_chat/"),
    D_YESTERDAYS_CHATS.alias("/api/yesterdays_chat/"),
    D_SEVEN_DAYS_CHATS.alias("/api/seven_days_chat/"),
];
