//! The conversations surface (API.md §4, dialect B): Gemini-style conversations by
//! number, and the `POST /api/chat/` that dialect C's token-balance client shares.

pub mod handlers;
pub mod shapes;

use self::shapes::{
    ConversationList, ConversationMessages, CreateConversationRequest, CreatedConversation, DialectChatRequest,
    DialectChatResponse, RegenerateConversationRequest, RegeneratedConversation, RenameConversationRequest,
    RenamedConversation,
};
use super::{AGAIN_ERRORS, MODEL_ERRORS, PAGING};
use crate::http::route::{handler, json, Limit, Route, Surface};
use crate::surfaces::shapes::Notice;

/// The surface's routes, in the order the document lists them.
pub const ROUTES: &[Route] = &[
    // Dialect B (API.md §4): Gemini conversations, ids are chat numbers.
    Route::new(
        "POST",
        "/api/conversations/create/",
        "create-chat",
        handler!(handlers::create_conversation),
    )
    .surface(Surface::Conversations)
    .summary("Dialect B: start an empty conversation (the open chat from now on)")
    .limit(Limit::Write)
    .request(json::<CreateConversationRequest>())
    .response(200, json::<CreatedConversation>()),
    Route::new(
        "GET",
        "/api/conversations/",
        "list-chats",
        handler!(handlers::list_conversations),
    )
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
    Route::new("POST", "/api/chat/", "send-chat", handler!(handlers::chat))
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
        handler!(handlers::conversation_messages),
    )
    .surface(Surface::Conversations)
    .summary("Dialect B: a conversation's messages, oldest first, with Gemini's role names")
    .response(200, json::<ConversationMessages>())
    .errors(&[404]),
    Route::new(
        "PATCH",
        "/api/conversations/{conversation_id}/rename/",
        "update-chat",
        handler!(handlers::rename_conversation),
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
        handler!(handlers::delete_conversation),
    )
    .surface(Surface::Conversations)
    .summary("Dialect B: delete a conversation")
    .limit(Limit::Write)
    .response(200, json::<Notice>())
    .errors(&[404]),
    Route::new(
        "POST",
        "/api/chat/regenerate/",
        "regenerate-reply",
        handler!(handlers::regenerate),
    )
    .surface(Surface::Conversations)
    .summary("Dialect B: answer a conversation's last message again")
    .limit(Limit::PerUser)
    .request(json::<RegenerateConversationRequest>())
    .response(200, json::<RegeneratedConversation>())
    .errors(AGAIN_ERRORS),
];
