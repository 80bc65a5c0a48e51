//! The route table: the one source of routing. A route is one entry here plus its
//! handler; `cargo xtask gen` then writes the `cargo lambda watch` router, the
//! template's function resources and any missing function crate from it, and the
//! OpenAPI document is built from it at run time. A new function also needs its
//! entry in [`FUNCTIONS`](super::FUNCTIONS) (description, IAM, streaming).

use super::route::{described, handler, json, list, media, Limit, Route, Surface};
use crate::api::accounts::*;
use crate::api::api_keys::*;
use crate::api::chats::*;
use crate::api::dialect_b::*;
use crate::api::dialect_d::*;
use crate::api::dialect_e::*;
use crate::api::meta::*;
use crate::api::shares::*;
use crate::api::transfer::*;
use crate::api::usage::*;
use crate::api::Notice;
use crate::handlers::{
    accounts, api_keys, chats, dialect_b, dialect_d, dialect_e, messages, meta, openai, page, shares, stream, transfer,
    usage,
};

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

// Dialect D (API.md §4): its routes, each also under `/api/` (its client calls
// either); one definition each, listed twice in `ROUTES`.
const D_PROMPT_GPT: Route = Route::new("POST", "/prompt_gpt/", "send-chat", handler!(dialect_d::prompt_gpt))
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
    handler!(dialect_d::prompt_gemini),
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
    handler!(messages::list_messages),
)
.surface(Surface::Prompts)
.summary("Dialect D: a chat's messages, oldest first")
.response(200, list::<MessageView>())
.errors(&[404])
.query(&PAGING);

const D_TODAYS_CHATS: Route = Route::new("GET", "/todays_chat/", "list-chats", handler!(dialect_d::todays_chats))
    .surface(Surface::Prompts)
    .summary("Dialect D: up to 10 chats started today, newest first (days of the display zone)")
    .response(200, list::<ChatView>());

const D_YESTERDAYS_CHATS: Route = Route::new(
    "GET",
    "/yesterdays_chat/",
    "list-chats",
    handler!(dialect_d::yesterdays_chats),
)
.surface(Surface::Prompts)
.summary("Dialect D: up to 10 chats started yesterday, newest first (days of the display zone)")
.response(200, list::<ChatView>());

const D_SEVEN_DAYS_CHATS: Route = Route::new(
    "GET",
    "/seven_days_chat/",
    "list-chats",
    handler!(dialect_d::seven_days_chats),
)
.surface(Surface::Prompts)
.summary("Dialect D: up to 10 chats started the seven days before yesterday, newest first (days of the display zone)")
.response(200, list::<ChatView>());

pub const ROUTES: &[Route] = &[
    Route::new("POST", "/api/register/", "register", handler!(accounts::register))
        .surface(Surface::Accounts)
        .summary("Create an account and get a token")
        .public()
        .limit(Limit::PerIp)
        .request(json::<RegisterRequest>())
        .response(201, json::<AuthResponse>())
        .errors(&[409]),
    Route::new("POST", "/api/login/", "login", handler!(accounts::login))
        .surface(Surface::Accounts)
        .summary("Exchange a username or email and password for a token")
        .public()
        .limit(Limit::PerIp)
        .request(json::<LoginRequest>())
        .response(200, json::<AuthResponse>())
        .errors(&[401, 403]),
    Route::new("POST", "/api/logout/", "logout", handler!(accounts::logout))
        .surface(Surface::Accounts)
        .summary("Revoke the presented token (or all, with ?all=true)")
        .response(200, json::<Notice>())
        .query(&[("all", "true revokes every token of the user.")]),
    Route::new("GET", "/api/me/", "get-me", handler!(accounts::get_me))
        .surface(Surface::Accounts)
        .summary("The caller's profile")
        .response(200, json::<ProfileView>()),
    Route::new("PATCH", "/api/me/", "update-me", handler!(accounts::update_me))
        .surface(Surface::Accounts)
        .summary("Change email, time zone or password")
        .limit(Limit::Write)
        .request(json::<UpdateProfileRequest>())
        .response(200, json::<ProfileView>())
        .errors(&[409]),
    Route::new("DELETE", "/api/me/", "delete-me", handler!(accounts::delete_me))
        .surface(Surface::Accounts)
        .summary("Delete the account with all its data")
        .limit(Limit::Write)
        .response(200, json::<Notice>()),
    Route::new(
        "POST",
        "/api/users/{username}/deactivate/",
        "deactivate-user",
        handler!(accounts::deactivate_user),
    )
    .surface(Surface::Accounts)
    .summary("Deactivate a user (admins only)")
    .limit(Limit::Write)
    .response(200, json::<AccountStatusView>())
    .errors(&[403, 404]),
    Route::new(
        "POST",
        "/api/users/{username}/activate/",
        "activate-user",
        handler!(accounts::activate_user),
    )
    .surface(Surface::Accounts)
    .summary("Reactivate a user (admins only)")
    .limit(Limit::Write)
    .response(200, json::<AccountStatusView>())
    .errors(&[403, 404]),
    Route::new("POST", "/api/chats/", "send-chat", handler!(chats::send_chat))
        .surface(Surface::Chats)
        .summary("Send a message and get the model's reply, or end the session")
        .limit(Limit::PerUser)
        .request(json::<SendChatRequest>())
        .response(201, json::<SendChatResponse>())
        .also(200, json::<SendChatOrEnd>())
        .errors(MODEL_ERRORS),
    Route::new("GET", "/api/chats/", "list-chats", handler!(chats::list_chats))
        .surface(Surface::Chats)
        .summary("The caller's chats, newest first, with their conversations")
        .limit(Limit::Search)
        .response(200, list::<ChatView>())
        .query(&[
            ("session_id", "Only this chat."),
            (
                "search",
                "Chats whose title or messages contain this text (case-insensitive; at most 200 characters).",
            ),
            (
                "period",
                "today, yesterday, or week (the 7 days ending today), in the display zone.",
            ),
            PAGING[0],
            PAGING[1],
        ]),
    Route::new("DELETE", "/api/chats/", "delete-all-chats", handler!(chats::delete_all_chats))
        .surface(Surface::Chats)
        .summary("Delete every chat of the caller")
        .limit(Limit::Write)
        .response(200, json::<DeletedChatsResponse>()),
    Route::new("GET", "/api/chats/{chat_id}/", "get-chat", handler!(chats::get_chat))
        .surface(Surface::Chats)
        .summary("One chat with its conversation")
        .response(200, json::<ChatView>())
        .errors(&[404]),
    Route::new("PATCH", "/api/chats/{chat_id}/", "update-chat", handler!(chats::update_chat))
        .surface(Surface::Chats)
        .summary("Rename a chat, or end or reopen it")
        .limit(Limit::Write)
        .request(json::<UpdateChatRequest>())
        .response(200, json::<ChatView>())
        .errors(&[404]),
    Route::new("DELETE", "/api/chats/{chat_id}/", "delete-chat", handler!(chats::delete_chat))
        .surface(Surface::Chats)
        .summary("Delete one chat")
        .limit(Limit::Write)
        .response(200, json::<Notice>())
        .errors(&[404]),
    Route::new(
        "GET",
        "/api/chats/{chat_id}/messages/",
        "list-messages",
        handler!(messages::list_messages),
    )
    .surface(Surface::Chats)
    .summary("A chat's active branch (or, with ?branch=all, every message of its tree), oldest first")
    .response(200, list::<TreeMessageView>())
    .errors(&[404])
    .query(&[
        (
            "branch",
            "`active` (the default): the active branch, the messages the model sees; `all`: every message of the chat's tree.",
        ),
        PAGING[0],
        PAGING[1],
    ]),
    Route::new(
        "PATCH",
        "/api/chats/{chat_id}/messages/{message_id}/",
        "edit-message",
        handler!(messages::edit_message),
    )
    .surface(Surface::Chats)
    .summary("Edit a message, optionally answering it again")
    .limit(Limit::PerUser)
    .request(json::<EditMessageRequest>())
    .response(200, json::<EditMessageResponse>())
    .errors(AGAIN_ERRORS),
    Route::new(
        "POST",
        "/api/chats/{chat_id}/messages/{message_id}/branches/",
        "edit-message",
        handler!(messages::create_branch),
    )
    .surface(Surface::Chats)
    .summary("Ask a new question beside a user message: a new branch, answered and made active")
    .limit(Limit::PerUser)
    .request(json::<CreateBranchRequest>())
    .response(201, json::<BranchCreatedResponse>())
    .errors(AGAIN_ERRORS),
    Route::new("PUT", "/api/chats/{chat_id}/active/", "edit-message", handler!(messages::set_active))
        .surface(Surface::Chats)
        .summary("Make the branch through a message the chat's active one")
        .limit(Limit::Write)
        .request(json::<SetActiveRequest>())
        .response(200, json::<ActiveBranchResponse>())
        .errors(&[404, 409]),
    Route::new(
        "POST",
        "/api/chats/{chat_id}/regenerate/",
        "regenerate-reply",
        handler!(messages::regenerate),
    )
    .surface(Surface::Chats)
    .summary("Answer the chat's last user message again")
    .limit(Limit::PerUser)
    .request(json::<RegenerateRequest>())
    .response(200, json::<RegeneratedView>())
    .errors(AGAIN_ERRORS),
    Route::new("GET", "/api/export/", "export-chats", handler!(transfer::export_chats))
        .surface(Surface::Chats)
        .summary("Every chat of the caller with its whole tree, as one document (paged: next_cursor)")
        .response(200, json::<ExportDocument>())
        .query(&PAGING),
    Route::new("POST", "/api/import/", "import-chats", handler!(transfer::import_chats))
        .surface(Surface::Chats)
        .summary("New chats from an export of this API or a ChatGPT conversations.json (up to 5 MiB; nothing charged)")
        .limit(Limit::Write)
        .request(json::<ImportDocument>())
        .response(201, json::<ImportResponse>())
        .errors(&[413]),
    Route::new("POST", "/api/keys/", "api-keys", handler!(api_keys::create_key))
        .surface(Surface::Accounts)
        .summary("Create a personal API key for /v1/ (shown only in this answer)")
        .limit(Limit::Write)
        .request(json::<CreateApiKeyRequest>())
        .response(201, json::<CreatedApiKey>())
        .errors(&[409]),
    Route::new("GET", "/api/keys/", "api-keys", handler!(api_keys::list_keys))
        .surface(Surface::Accounts)
        .summary("The caller's personal API keys, oldest first")
        .response(200, list::<ApiKeyView>()),
    Route::new("DELETE", "/api/keys/{key_id}/", "api-keys", handler!(api_keys::revoke_key))
        .surface(Surface::Accounts)
        .summary("Revoke a personal API key at once")
        .limit(Limit::Write)
        .response(200, json::<Notice>())
        .errors(&[404]),
    Route::new(
        "POST",
        "/api/chats/{chat_id}/share/",
        "shares",
        handler!(shares::create_share),
    )
    .surface(Surface::Chats)
    .summary("Share a read-only snapshot of a chat's current messages by a public link")
    .limit(Limit::Write)
    .response(201, json::<CreatedShare>())
    .errors(&[404, 409, 413]),
    Route::new("GET", "/api/shares/", "shares", handler!(shares::list_shares))
        .surface(Surface::Chats)
        .summary("The caller's share links, newest first")
        .response(200, list::<ShareView>())
        .query(&PAGING),
    Route::new("DELETE", "/api/shares/{share_id}/", "shares", handler!(shares::revoke_share))
        .surface(Surface::Chats)
        .summary("Revoke a share link at once, for everyone")
        .limit(Limit::Write)
        .response(200, json::<Notice>())
        .errors(&[404]),
    Route::new("GET", "/api/shared/{share_id}/", "get-shared", handler!(shares::get_shared))
        .surface(Surface::Chats)
        .summary("A shared chat's snapshot, read without signing in")
        .public()
        .response(200, json::<SharedChatView>())
        .errors(&[404]),
    Route::new("GET", "/api/usage/", "get-usage", handler!(usage::get_usage))
        .surface(Surface::Service)
        .summary("What the balance was spent on, by day, model and API key")
        .response(200, json::<UsageReport>())
        .query(&USAGE_SPAN),
    Route::new("GET", "/api/admin/usage/", "admin-usage", handler!(usage::get_admin_usage))
        .surface(Surface::Service)
        .summary("Every user's usage totals (admins only)")
        .response(200, json::<AdminUsageReport>())
        .errors(&[403])
        .query(&USAGE_SPAN),
    Route::new("GET", "/api/tokens/", "get-tokens", handler!(meta::get_tokens))
        .surface(Surface::Service)
        .summary("The token balance")
        .response(200, json::<TokensView>()),
    Route::new("GET", "/api/models/", "list-models", handler!(meta::list_models))
        .surface(Surface::Service)
        .summary("Every provider/model and whether it is available")
        .response(200, list::<ModelView>()),
    Route::new("GET", "/api/openapi.json", "get-openapi", handler!(super::openapi::serve))
        .surface(Surface::Service)
        .summary("This document")
        .public()
        .response(200, described("This document.")),
    Route::new("GET", "/api/health/", "health", handler!(meta::health))
        .surface(Surface::Service)
        .summary("Liveness and store reachability")
        .public()
        .response(200, json::<HealthView>())
        .errors(&[503]),
    Route::new("POST", "/api/chats/stream/", "stream-chat", handler!(stream::stream_chat))
        .surface(Surface::Chats)
        .summary("Send a message and stream the reply as server-sent events")
        .limit(Limit::PerUser)
        .request(json::<SendChatRequest>())
        .response(
            200,
            media(
                &["text/event-stream", "application/json"],
                "Events `start` {chat_id, message_id}, `delta` {text}…, then `done` {message_id, usage, tokens_remaining} or `error` {error, code}. With `end_session`, the ended session as JSON instead ({message, chat_id, session_id, start_time, end_time}).",
            ),
        )
        .errors(MODEL_ERRORS),
    Route::new("POST", "/v1/chat/completions", "openai-api", handler!(openai::chat_completions))
        .surface(Surface::OpenAi)
        .summary("OpenAI-compatible chat completions, streamed or whole")
        .limit(Limit::PerUser)
        .openai_errors()
        .request(json::<crate::api::openai::ChatCompletionRequest>())
        .response(
            200,
            media(
                &["application/json", "text/event-stream"],
                "OpenAI's chat.completion object, or chat.completion.chunk server-sent events ending in `data: [DONE]` when `stream` is true.",
            ),
        )
        .errors(&[402, 502, 503, 504]),
    Route::new("GET", "/v1/models", "openai-api", handler!(openai::list_models))
        .surface(Surface::OpenAi)
        .summary("OpenAI-compatible model list")
        .openai_errors()
        .response(
            200,
            described("OpenAI's model list: {object: \"list\", data: [{id, object, created, owned_by}]}."),
        ),
    // Dialect B (API.md §4): Gemini conversations, ids are chat numbers.
    Route::new(
        "POST",
        "/api/conversations/create/",
        "create-chat",
        handler!(dialect_b::create_conversation),
    )
    .surface(Surface::Conversations)
    .summary("Dialect B: start an empty conversation (the open chat from now on)")
    .limit(Limit::Write)
    .request(json::<CreateConversationRequest>())
    .response(200, json::<CreatedConversation>()),
    Route::new("GET", "/api/conversations/", "list-chats", handler!(dialect_b::list_conversations))
        .surface(Surface::Conversations)
        .summary("Dialect B: the caller's conversations, newest first")
        .limit(Limit::Search)
        .response(200, json::<ConversationList>())
        .query(&[
            (
                "search",
                "Conversations whose title or messages contain this text (case-insensitive; at most 200 characters).",
            ),
            PAGING[0],
            PAGING[1],
        ]),
    Route::new("POST", "/api/chat/", "send-chat", handler!(dialect_b::chat))
        .surface(Surface::Conversations)
        .summary("Dialects B and C: send a message to a conversation (by number) or to the open chat; 200")
        .limit(Limit::PerUser)
        .request(json::<DialectChatRequest>())
        .response(200, json::<DialectChatResponse>())
        .errors(MODEL_ERRORS),
    Route::new(
        "GET",
        "/api/conversations/{conversation_id}/messages/",
        "list-messages",
        handler!(dialect_b::conversation_messages),
    )
    .surface(Surface::Conversations)
    .summary("Dialect B: a conversation's messages, oldest first, with Gemini's role names")
    .response(200, json::<ConversationMessages>())
    .errors(&[404]),
    Route::new(
        "PATCH",
        "/api/conversations/{conversation_id}/rename/",
        "update-chat",
        handler!(dialect_b::rename_conversation),
    )
    .surface(Surface::Conversations)
    .summary("Dialect B: rename a conversation")
    .limit(Limit::Write)
    .request(json::<RenameConversationRequest>())
    .response(200, json::<RenamedConversation>())
    .errors(&[404]),
    Route::new(
        "DELETE",
        "/api/conversations/{conversation_id}/delete/",
        "delete-chat",
        handler!(dialect_b::delete_conversation),
    )
    .surface(Surface::Conversations)
    .summary("Dialect B: delete a conversation")
    .limit(Limit::Write)
    .response(200, json::<Notice>())
    .errors(&[404]),
    Route::new("POST", "/api/chat/regenerate/", "regenerate-reply", handler!(dialect_b::regenerate))
        .surface(Surface::Conversations)
        .summary("Dialect B: answer a conversation's last message again")
        .limit(Limit::PerUser)
        .request(json::<RegenerateConversationRequest>())
        .response(200, json::<RegeneratedConversation>())
        .errors(AGAIN_ERRORS),
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
    // Dialect E (API.md §4): Ollama threads and cookie sessions.
    Route::new("POST", "/auth/register/", "register", handler!(dialect_e::register))
        .surface(Surface::Threads)
        .summary("Dialect E: create an account (log in afterwards)")
        .public()
        .limit(Limit::PerIp)
        .request(json::<RegisterRequest>())
        .response(201, json::<ERegisterResponse>())
        .errors(&[400]),
    Route::new("POST", "/auth/login/", "login", handler!(dialect_e::login))
        .surface(Surface::Threads)
        .summary("Dialect E: log in; sets the HttpOnly session cookie and answers the token")
        .public()
        .limit(Limit::PerIp)
        .request(json::<LoginRequest>())
        .response(200, json::<ELoginResponse>())
        .errors(&[400, 403]),
    Route::new("POST", "/auth/logout/", "logout", handler!(dialect_e::logout))
        .surface(Surface::Threads)
        .summary("Dialect E: revoke the presented token and clear the session cookie")
        .response(200, json::<Notice>()),
    Route::new("GET", "/auth/status/", "get-me", handler!(dialect_e::status))
        .surface(Surface::Threads)
        .summary("Dialect E: whether the cookie (or token) is signed in: 200, else 401")
        .response(200, json::<EStatusResponse>()),
    Route::new("DELETE", "/auth/delete/", "delete-me", handler!(dialect_e::delete_account))
        .surface(Surface::Threads)
        .summary("Dialect E: delete the account with all its data and clear the cookie")
        .limit(Limit::Write)
        .response(200, json::<Notice>()),
    Route::new(
        "POST",
        "/auth/deactivate/{username}/",
        "deactivate-user",
        handler!(dialect_e::deactivate),
    )
    .surface(Surface::Threads)
    .summary("Dialect E: deactivate a user (admins only)")
    .limit(Limit::Write)
    .response(200, json::<EDeactivatedResponse>())
    .errors(&[403, 404]),
    Route::new("POST", "/chat/threads/new/", "create-chat", handler!(dialect_e::new_thread))
        .surface(Surface::Threads)
        .summary("Dialect E: start an empty thread")
        .limit(Limit::Write)
        .response(201, json::<ENewThreadResponse>()),
    Route::new("GET", "/chat/threads/", "list-chats", handler!(dialect_e::list_threads))
        .surface(Surface::Threads)
        .summary("Dialect E: the caller's threads, newest first")
        .response(200, json::<EThreadsResponse>())
        .query(&PAGING),
    Route::new(
        "GET",
        "/chat/threads/{id}/messages/",
        "list-messages",
        handler!(dialect_e::list_thread_messages),
    )
    .surface(Surface::Threads)
    .summary("Dialect E: a thread's newest messages, oldest first")
    .response(200, json::<EMessagesResponse>())
    .errors(&[404]),
    Route::new(
        "PUT",
        "/chat/threads/{id}/update-title/",
        "update-chat",
        handler!(dialect_e::update_title),
    )
    .surface(Surface::Threads)
    .summary("Dialect E: rename a thread")
    .limit(Limit::Write)
    .request(json::<ETitleRequest>())
    .response(200, json::<EStatusNotice>())
    .errors(&[404]),
    Route::new(
        "DELETE",
        "/chat/threads/{id}/delete/",
        "delete-chat",
        handler!(dialect_e::delete_thread),
    )
    .surface(Surface::Threads)
    .summary("Dialect E: delete a thread")
    .limit(Limit::Write)
    .response(200, json::<EStatusNotice>())
    .errors(&[404]),
    Route::new(
        "POST",
        "/chat/threads/{id}/delete/",
        "delete-chat",
        handler!(dialect_e::delete_thread),
    )
    .surface(Surface::Threads)
    .summary("Dialect E: delete a thread (the POST E's own tests send)")
    .limit(Limit::Write)
    .response(200, json::<EStatusNotice>())
    .errors(&[404]),
    Route::new(
        "DELETE",
        "/chat/threads/delete/",
        "delete-all-chats",
        handler!(dialect_e::delete_all_threads),
    )
    .surface(Surface::Threads)
    .summary("Dialect E: delete every thread of the caller")
    .limit(Limit::Write)
    .response(200, json::<EStatusNotice>()),
    Route::new("POST", "/chat/response/{id}/", "send-chat", handler!(dialect_e::respond))
        .surface(Surface::Threads)
        .summary("Dialect E: send a message to a thread and get the whole reply")
        .limit(Limit::PerUser)
        .request(json::<EMessageRequest>())
        .response(200, json::<EResponse>())
        .errors(MODEL_ERRORS),
    Route::new(
        "POST",
        "/chat/streaming-response/{id}/",
        "stream-chat",
        handler!(dialect_e::stream_response),
    )
    .surface(Surface::Threads)
    .summary("Dialect E: send a message to a thread and stream the reply as plain text")
    .limit(Limit::PerUser)
    .request(json::<EMessageRequest>())
    .response(
        200,
        media(
            &["text/plain"],
            "Chunked: the reply's text piece by piece and nothing else. A model failure before the first piece is a JSON error; after it, the stream is aborted (the client's read fails).",
        ),
    )
    .errors(MODEL_ERRORS),
    // The web chat page, a client of the routes below (not in the OpenAPI document).
    Route::new("GET", "/", "web-page", handler!(page::index))
        .summary("The web chat page")
        .page()
        .response(200, described("text/html, revalidated on every load (no-cache).")),
    Route::new("GET", "/s/{share_id}", "web-page", handler!(page::index))
        .summary("The web chat page showing a shared chat, without signing in")
        .page()
        .response(200, described("text/html, the same page as `/`.")),
    Route::new("GET", "/assets/{file}", "web-page", handler!(page::asset))
        .summary("A file of the web chat page, by its content-hashed name")
        .page()
        .response(200, described("CSS, JavaScript or SVG, cached for a year as immutable."))
        .errors(&[404]),
];

#[cfg(test)]
mod tests {
    use super::super::{function, FALLBACK_FUNCTION, FUNCTIONS};
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn every_route_is_one_method_and_path_served_by_a_known_function() {
        let mut seen = BTreeSet::new();
        for route in ROUTES {
            let name = format!("{} {}", route.method, route.path);
            assert!(seen.insert((route.method, route.path)), "{name} twice");
            assert!(
                ["GET", "POST", "PUT", "PATCH", "DELETE"].contains(&route.method),
                "{name}"
            );
            assert!(route.path.starts_with('/'), "{name}");
            assert!(!route.summary.is_empty(), "{name} has a summary");
            assert!(route.doc.response.is_some(), "{name} documents its answer");
            assert!(
                function(route.function).is_some(),
                "{name}: {} is in FUNCTIONS",
                route.function
            );
            assert_ne!(route.function, FALLBACK_FUNCTION, "{name}");
            // A page is no part of the API's document, so of no surface.
            assert_eq!(route.surface.is_some(), route.in_openapi, "{name}: .surface(…)");
        }
    }

    #[test]
    fn every_signed_in_change_is_rate_limited() {
        for route in ROUTES {
            let name = format!("{} {}", route.method, route.path);
            let changes = route.method != "GET" && route.access == super::super::Access::User;
            // Logout only revokes: a flood of it costs one delete each, and
            // signing out must always work.
            if changes && route.function != "logout" {
                assert!(
                    matches!(route.limit, Limit::PerUser | Limit::Write),
                    "{name} changes something: Limit::Write (or PerUser for a model route)"
                );
            }
            if route.limit == Limit::Search {
                assert!(route.doc.query.iter().any(|(q, _)| *q == "search"), "{name}");
            }
            if route.doc.query.iter().any(|(q, _)| *q == "search") {
                assert_eq!(route.limit, Limit::Search, "{name} searches");
            }
        }
    }

    #[test]
    fn functions_are_kebab_case_and_each_serves_a_route() {
        let mut names = BTreeSet::new();
        for f in FUNCTIONS {
            assert!(f.name.chars().all(|c| c.is_ascii_lowercase() || c == '-'), "{}", f.name);
            assert!(names.insert(f.name), "{} twice", f.name);
            assert!(!f.description.is_empty(), "{} has a description", f.name);
            let serves = ROUTES.iter().any(|r| r.function == f.name);
            assert_eq!(serves, f.name != FALLBACK_FUNCTION, "{}", f.name);
        }
    }
}
