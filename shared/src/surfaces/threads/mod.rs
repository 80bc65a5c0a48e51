//! The threads surface (API.md §4, dialect E): Ollama-style threads, a chunked text
//! stream, and the cookie sessions of E's web client.

pub mod handlers;
pub mod shapes;

use self::shapes::{
    EDeactivatedResponse, ELoginResponse, EMessageRequest, EMessagesResponse, ENewThreadResponse, ERegisterResponse,
    EResponse, EStatusNotice, EStatusResponse, EThreadsResponse, ETitleRequest,
};
use super::{MODEL_ERRORS, PAGING};
use crate::http::route::{handler, json, media, Limit, Route, Surface};
use crate::surfaces::accounts::shapes::users::{LoginRequest, RegisterRequest};
use crate::surfaces::shapes::Notice;

/// The surface's routes, in the order the document lists them.
pub const ROUTES: &[Route] = &[
    // Dialect E (API.md §4): Ollama threads and cookie sessions.
    Route::new("POST", "/auth/register/", "register", handler!(handlers::register))
        .surface(Surface::Threads)
        .summary("Dialect E: create an account (log in afterwards)")
        .public()
        .limit(Limit::PerIp)
        .request(json::<RegisterRequest>())
        .response(201, json::<ERegisterResponse>())
        .errors(&[400]),
    Route::new("POST", "/auth/login/", "login", handler!(handlers::login))
        .surface(Surface::Threads)
        .summary("Dialect E: log in; sets the HttpOnly session cookie and answers the token")
        .public()
        .limit(Limit::PerIp)
        .request(json::<LoginRequest>())
        .response(200, json::<ELoginResponse>())
        .errors(&[400, 403]),
    Route::new("POST", "/auth/logout/", "logout", handler!(handlers::logout))
        .surface(Surface::Threads)
        .summary("Dialect E: revoke the presented token and clear the session cookie")
        .response(200, json::<Notice>()),
    Route::new("GET", "/auth/status/", "get-me", handler!(handlers::status))
        .surface(Surface::Threads)
        .summary("Dialect E: whether the cookie (or token) is signed in: 200, else 401")
        .response(200, json::<EStatusResponse>()),
    Route::new("DELETE", "/auth/delete/", "delete-me", handler!(handlers::delete_account))
        .surface(Surface::Threads)
        .summary("Dialect E: delete the account with all its data and clear the cookie")
        .limit(Limit::Write)
        .response(200, json::<Notice>()),
    Route::new(
        "POST",
        "/auth/deactivate/{username}/",
        "deactivate-user",
        handler!(handlers::deactivate),
    )
    .surface(Surface::Threads)
    .summary("Dialect E: deactivate a user (admins only)")
    .limit(Limit::Write)
    .response(200, json::<EDeactivatedResponse>())
    .errors(&[403, 404]),
    Route::new("POST", "/chat/threads/new/", "create-chat", handler!(handlers::new_thread))
        .surface(Surface::Threads)
        .summary("Dialect E: start an empty thread")
        .limit(Limit::Write)
        .response(201, json::<ENewThreadResponse>()),
    Route::new("GET", "/chat/threads/", "list-chats", handler!(handlers::list_threads))
        .surface(Surface::Threads)
        .summary("Dialect E: the caller's threads, newest first")
        .response(200, json::<EThreadsResponse>())
        .query(&PAGING),
    Route::new(
        "GET",
        "/chat/threads/{id}/messages/",
        "list-messages",
        handler!(handlers::list_thread_messages),
    )
    .surface(Surface::Threads)
    .summary("Dialect E: a thread's newest messages, oldest first")
    .response(200, json::<EMessagesResponse>())
    .errors(&[404]),
    Route::new(
        "PUT",
        "/chat/threads/{id}/update-title/",
        "update-chat",
        handler!(handlers::update_title),
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
        handler!(handlers::delete_thread),
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
        handler!(handlers::delete_thread),
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
        handler!(handlers::delete_all_threads),
    )
    .surface(Surface::Threads)
    .summary("Dialect E: delete every thread of the caller")
    .limit(Limit::Write)
    .response(200, json::<EStatusNotice>()),
    Route::new("POST", "/chat/response/{id}/", "send-chat", handler!(handlers::respond))
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
        handler!(handlers::stream_response),
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
];
