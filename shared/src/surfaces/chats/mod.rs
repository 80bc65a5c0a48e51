//! The canonical chats surface (API.md §2, "Chats"): chats, their messages and
//! branches, replies whole and streamed, shares, export and import.

pub mod chat;
pub mod messages;
pub mod shapes;
pub mod shares;
pub mod stream;
pub mod transfer;

use self::shapes::chats::{
    ActiveBranchResponse, BranchCreatedResponse, ChatView, CreateBranchRequest, DeletedChatsResponse,
    EditMessageRequest, EditMessageResponse, RegenerateRequest, RegeneratedView, SendChatOrEnd, SendChatRequest,
    SendChatResponse, SetActiveRequest, TreeMessageView, UpdateChatRequest,
};
use self::shapes::shares::{CreatedShare, ShareView, SharedChatView};
use self::shapes::transfer::{ExportDocument, ImportDocument, ImportResponse};
use super::{AGAIN_ERRORS, MODEL_ERRORS, PAGING};
use crate::http::route::{handler, json, list, media, Limit, Route, Surface};
use crate::surfaces::shapes::Notice;

/// The surface's routes, in the order the document lists them.
pub const ROUTES: &[Route] = &[
    Route::new("POST", "/api/chats/", "send-chat", handler!(chat::send_chat))
        .surface(Surface::Chats)
        .summary("Send a message and get the model's reply, or end the session")
        .limit(Limit::PerUser)
        .request(json::<SendChatRequest>())
        .response(201, json::<SendChatResponse>())
        .also(200, json::<SendChatOrEnd>())
        .errors(MODEL_ERRORS),
    Route::new("GET", "/api/chats/", "list-chats", handler!(chat::list_chats))
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
    Route::new("DELETE", "/api/chats/", "delete-all-chats", handler!(chat::delete_all_chats))
        .surface(Surface::Chats)
        .summary("Delete every chat of the caller")
        .limit(Limit::Write)
        .response(200, json::<DeletedChatsResponse>()),
    Route::new("GET", "/api/chats/{chat_id}/", "get-chat", handler!(chat::get_chat))
        .surface(Surface::Chats)
        .summary("One chat with its conversation")
        .response(200, json::<ChatView>())
        .errors(&[404]),
    Route::new("PATCH", "/api/chats/{chat_id}/", "update-chat", handler!(chat::update_chat))
        .surface(Surface::Chats)
        .summary("Rename a chat, or end or reopen it")
        .limit(Limit::Write)
        .request(json::<UpdateChatRequest>())
        .response(200, json::<ChatView>())
        .errors(&[404]),
    Route::new("DELETE", "/api/chats/{chat_id}/", "delete-chat", handler!(chat::delete_chat))
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
];
