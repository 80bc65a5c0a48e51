//! Dialect E (API.md §4): thin views over the canonical operations with E's
//! paths, shapes, statuses and messages. Thread ids are chat numbers. Its web
//! client signs in with the session cookie: login sets it, logout and account
//! deletion clear it (the pipeline accepts it on every route).

use bytes::Bytes;
use serde::de::DeserializeOwned;

use crate::accounts::{self, AccountError};
use crate::conversation::chats::{self, ChatChange};
use crate::conversation::reply::{self, Ask, Delivery, Job, Replied};
use crate::conversation::{numbered_chat, start_chat, ChatError, Target};
use crate::error::ApiError;
use crate::http::body::{message_content, parse_json};
use crate::http::budget::Budget;
use crate::http::call::Call;
use crate::http::pagination::next_link;
use crate::http::reply::{Output, Reply};
use crate::http::stream::{stream_reply, Ending, Framing};
use crate::http::{cookie, csrf};
use crate::store::{Chat, ChatQuery, Role};
use crate::surfaces::accounts::shapes::users::{LoginRequest, RegisterRequest};
use crate::surfaces::accounts::users::{change_active, create_account, revoke_cookies, sign_in};
use crate::surfaces::chats::chat::{page_of_chats, MAX_TITLE_CHARS};
use crate::surfaces::threads::shapes::*;
use crate::time::iso;

/// A thread's title before its first message names it (E's default).
pub const DEFAULT_TITLE: &str = "New Chat";
/// The most messages a thread's answer carries: the newest ones.
pub const E_MESSAGES_LIMIT: usize = 500;

/// E's body: JSON whatever the `Content-Type` says (E's server never looked at
/// it), and "Invalid JSON" for anything that does not parse.
fn body<T: DeserializeOwned>(call: &Call<'_>) -> Result<T, ApiError> {
    parse_json(call.body_bytes(), Some("application/json")).map_err(|err| {
        if err.code == "invalid_json" {
            ApiError::bad_request("invalid_json", "Invalid JSON")
        } else {
            err
        }
    })
}

fn session_cookie_set(call: &Call<'_>, token: &str) -> String {
    let config = &call.state.config;
    cookie::set(&config.session_cookie, token, config.token_ttl_days * 86_400)
}

fn session_cookie_cleared(call: &Call<'_>) -> String {
    cookie::clear(&call.state.config.session_cookie)
}

/// `POST /auth/register/`: 201 with E's flat fields. A taken username or email is
/// 400, as E's client shows only a 400's `error`.
pub async fn register(call: &Call<'_>) -> Result<Reply, ApiError> {
    let request: RegisterRequest = body(call)?;
    let (user, token) = create_account(call, request).await.map_err(|err| match err {
        AccountError::UsernameTaken => {
            ApiError::bad_request("username_taken", "Username already taken").with("field", "username")
        }
        AccountError::EmailTaken => {
            ApiError::bad_request("email_taken", "Email already registered").with("field", "email")
        }
        err => err.into(),
    })?;
    Reply::created(ERegisterResponse {
        message: "User created successfully".into(),
        username: user.username.clone(),
        email: user.email.clone(),
        user: (&user).into(),
        token,
        tokens: user.tokens,
    })
}

/// `POST /auth/login/`: the token in the body and in the session cookie. Wrong
/// credentials are 400 "Invalid username or password", as E's client expects.
///
/// A login that sets the cookie gets the cross-site check too: E's body is read
/// whatever its `Content-Type`, so another site's `text/plain` form could otherwise
/// sign a visitor into the attacker's account (login forgery).
pub async fn login(call: &Call<'_>) -> Result<Reply, ApiError> {
    csrf::check_login(&call.state.config, &csrf::Source::of(call))?;
    let request: LoginRequest = body(call)?;
    let (user, token) = sign_in(call, request).await.map_err(|err| match err {
        AccountError::InvalidCredentials => {
            ApiError::bad_request("invalid_credentials", "Invalid username or password")
        }
        err => err.into(),
    })?;
    let set_cookie = session_cookie_set(call, &token);
    Ok(Reply::ok(ELoginResponse {
        message: "Login successful".into(),
        token,
        user: (&user).into(),
    })?
    .with_header("set-cookie", set_cookie))
}

/// `POST /auth/logout/`: revokes the presented tokens (the header's and the
/// cookie's) and clears the cookie.
pub async fn logout(call: &Call<'_>) -> Result<Reply, ApiError> {
    accounts::sign_out(call.state.tokens(), call.caller()?, false).await?;
    revoke_cookies(call).await?;
    Ok(Reply::ok(crate::surfaces::shapes::Notice::new("Logout successful"))?
        .with_header("set-cookie", session_cookie_cleared(call)))
}

/// `GET /auth/status/`: 200 when signed in; the pipeline answers 401 otherwise.
pub async fn status(call: &Call<'_>) -> Result<Reply, ApiError> {
    Reply::ok(EStatusResponse {
        message: "User is logged in".into(),
        username: call.user()?.username.clone(),
    })
}

/// `DELETE /auth/delete/`: the account and everything in it; the cookie goes too.
pub async fn delete_account(call: &Call<'_>) -> Result<Reply, ApiError> {
    accounts::delete_account(call.state.accounts(), call.user()?).await?;
    Ok(
        Reply::ok(crate::surfaces::shapes::Notice::new("User deleted successfully"))?
            .with_header("set-cookie", session_cookie_cleared(call)),
    )
}

/// `POST /auth/deactivate/{username}/` (admins only).
pub async fn deactivate(call: &Call<'_>) -> Result<Reply, ApiError> {
    let user = change_active(call, false).await?;
    Reply::ok(EDeactivatedResponse {
        message: format!("User {} has been deactivated.", user.username),
        username: user.username,
        is_active: false,
    })
}

fn thread_view(chat: &Chat) -> EThreadView {
    EThreadView {
        id: chat.number,
        title: chat.title.clone().unwrap_or_else(|| DEFAULT_TITLE.into()),
        created_at: iso(chat.created_at),
        chat_id: chat.id.to_string(),
    }
}

/// `POST /chat/threads/new/`: an empty thread, 201 `{thread_id}`.
pub async fn new_thread(call: &Call<'_>) -> Result<Reply, ApiError> {
    let chat = start_chat(call.state.chats(), call.user()?, None, call.state.now()).await?;
    Reply::created(ENewThreadResponse {
        thread_id: chat.number,
        title: DEFAULT_TITLE.into(),
        created_at: iso(chat.created_at),
    })
}

/// `GET /chat/threads/`: newest first, paginated like every list.
pub async fn list_threads(call: &Call<'_>) -> Result<Reply, ApiError> {
    let user = call.user()?;
    let (chats, paging) = page_of_chats(call, user, &ChatQuery::default()).await?;
    // A thread is a title and dates: a page of them is far within budget.
    let next = paging.next_cursor(chats.len());
    let reply = Reply::ok(EThreadsResponse {
        threads: chats.iter().map(thread_view).collect(),
        next_cursor: next.clone(),
    })?;
    Ok(match next {
        Some(cursor) => reply.with_header("link", next_link(call, &cursor)),
        None => reply,
    })
}

async fn thread(call: &Call<'_>) -> Result<Chat, ApiError> {
    let number = call.path_number("id")?;
    numbered_chat(call.state.chats(), call.user()?, number)
        .await
        .map_err(thread_gone)
}

/// `GET /chat/threads/{id}/messages/`: the newest messages, oldest first, with
/// E's sender names.
pub async fn list_thread_messages(call: &Call<'_>) -> Result<Reply, ApiError> {
    let chat = thread(call).await?;
    let newest = chats::newest_messages(call.state.messages(), &chat, E_MESSAGES_LIMIT).await?;
    // The newest that fit one response, shown oldest first.
    let views = newest.into_iter().map(|m| EMessageView {
        sender: match m.role {
            Role::User => "user",
            Role::Assistant => "bot",
        }
        .into(),
        content: m.content,
        created_at: iso(m.created_at),
        message_id: m.id.to_string(),
        partial: m.partial,
    });
    let (mut messages, _) = Budget::body().take_leading(views);
    messages.reverse();
    Reply::ok(EMessagesResponse {
        thread_id: chat.number,
        messages,
    })
}

/// `PUT /chat/threads/{id}/update-title/`.
pub async fn update_title(call: &Call<'_>) -> Result<Reply, ApiError> {
    let request: ETitleRequest = body(call)?;
    let title = request.title.map(|t| t.trim().to_string()).unwrap_or_default();
    if title.is_empty() {
        return Err(ApiError::bad_request("missing_field", "No title provided").with("field", "title"));
    }
    if title.chars().count() > MAX_TITLE_CHARS {
        return Err(ApiError::invalid_field(
            "title",
            format!("`title` must have 1 to {MAX_TITLE_CHARS} characters."),
        ));
    }
    let change = ChatChange {
        title: Some(title.clone()),
        ended: None,
    };
    let chat = chats::change_chat(call.state.chats(), thread(call).await?, change, call.now).await?;
    Reply::ok(EStatusNotice {
        status: "Title updated successfully".into(),
        message: "Title updated successfully".into(),
        thread_id: Some(chat.number),
        title: Some(title),
        deleted: None,
    })
}

/// `DELETE` (or `POST`) `/chat/threads/{id}/delete/`.
pub async fn delete_thread(call: &Call<'_>) -> Result<Reply, ApiError> {
    let chat = thread(call).await?;
    chats::delete_chat(call.state.chats(), &chat).await?;
    Reply::ok(EStatusNotice {
        status: "Thread deleted successfully".into(),
        message: "Thread deleted successfully".into(),
        thread_id: Some(chat.number),
        title: None,
        deleted: None,
    })
}

/// `DELETE /chat/threads/delete/`: every thread of the caller.
pub async fn delete_all_threads(call: &Call<'_>) -> Result<Reply, ApiError> {
    let deleted = chats::delete_all_chats(call.state.chats(), call.user()?).await?;
    let text = format!("Successfully deleted {deleted} threads");
    Reply::ok(EStatusNotice {
        status: text.clone(),
        message: text,
        thread_id: None,
        title: None,
        deleted: Some(deleted),
    })
}

/// The question in E's `message`, which is a transcript (API.md §4): E's client
/// sends the whole conversation so far, one `user: …` / `bot: …` line per turn
/// joined by `\n`, ending with the new question. As E's backend did, the question
/// is what follows `user:` on the last line that starts with it; unlike E's, which
/// kept only that line, it runs on to the next `bot:` line or the end, so a
/// question of several lines stays whole. A `message` without such a line is the
/// question whole. The earlier turns are not needed: the model's context comes
/// from the stored thread.
pub fn question_in(message: &str) -> &str {
    const USER: &str = "user:";
    let Some(start) = message
        .match_indices('\n')
        .map(|(at, _)| at + 1)
        .chain(std::iter::once(0))
        .filter(|&at| message[at..].starts_with(USER))
        .max()
    else {
        return message.trim();
    };
    let rest = &message[start + USER.len()..];
    let end = rest.find("\nbot:").unwrap_or(rest.len());
    rest[..end].trim()
}

/// The job both message routes run: the body is checked before the thread is
/// looked up, as E's server did.
async fn message_job(call: &Call<'_>) -> Result<(Job, Chat), ApiError> {
    let request: EMessageRequest = body(call)?;
    let no_message = || ApiError::bad_request("missing_field", "No message provided").with("field", "message");
    let question = request
        .message
        .as_deref()
        .map(question_in)
        .filter(|q| !q.is_empty())
        .ok_or_else(no_message)?;
    let content = message_content(question, "message")?;
    let choice = call
        .state
        .llm()
        .choose(request.provider.as_deref(), request.model.as_deref())?;
    let chat = thread(call).await?;
    let job = Job {
        user: call.user()?.clone(),
        ask: Ask::Message {
            // The thread was found by its number: deleted since, it is a 404,
            // never a new chat under the old id.
            target: Target::Existing(chat.id),
            content,
        },
        choice,
        max_new_tokens: None,
        key_id: call.api_key(),
    };
    Ok((job, chat))
}

/// A thread deleted while its message was on the way is E's 404.
fn thread_gone(err: ChatError) -> ApiError {
    match err {
        ChatError::NotFound => ApiError::not_found("Thread not found"),
        other => other.into(),
    }
}

/// `POST /chat/response/{id}/`: the whole reply. A model failure is its 502/503/504
/// error (the question is kept), never an empty answer.
pub async fn respond(call: &Call<'_>) -> Result<Reply, ApiError> {
    let (job, chat) = message_job(call).await?;
    let (stored, _usage) = reply::whole_in_chat(&call.state.conversations(), job)
        .await
        .map_err(thread_gone)?;
    Reply::ok(EResponse {
        response: stored.reply.content,
        thread_id: chat.number,
        message_id: stored.question.id.to_string(),
        reply_id: stored.reply.id.to_string(),
        tokens_remaining: stored.tokens_remaining,
    })
}

/// `POST /chat/streaming-response/{id}/`: the reply as `text/plain`, piece by piece.
/// Failures before the first piece are JSON errors with their status; a model
/// failure after it aborts the stream, so the client's read fails instead of
/// taking a cut reply for a whole one.
pub async fn stream_response(call: &Call<'_>) -> Result<Output, ApiError> {
    let (job, _chat) = message_job(call).await?;
    let running = reply::prepare(&call.state.conversations(), job, Delivery::Streamed)
        .await
        .map_err(thread_gone)?;
    Ok(stream_reply(running, Text))
}

/// E's stream: each piece as it comes, nothing around it; a failure aborts it.
struct Text;

impl Framing for Text {
    const CONTENT_TYPE: &'static str = "text/plain; charset=utf-8";

    fn piece(&self, text: &str) -> Bytes {
        Bytes::from(text.to_string())
    }

    fn ending(&self, outcome: Result<Replied, ChatError>) -> Ending {
        match outcome {
            Ok(_) => Ending::Finished(Vec::new()),
            Err(err) => {
                tracing::warn!(error = %err, "dialect E stream ended by a model failure");
                Ending::Abort
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::question_in;

    #[test]
    fn the_question_is_what_follows_the_last_user_line() {
        // E's client: every turn so far, then the new question.
        assert_eq!(question_in("user: Hello"), "Hello");
        assert_eq!(
            question_in("user: Hi\nbot: Hello! How can I help?\nuser: What is Rust?"),
            "What is Rust?"
        );
        // A reply of several lines, and a reply that mentions `user:` inside a line.
        assert_eq!(
            question_in("user: a\nbot: one\ntwo\nbot said user: no\nuser:  the new one  "),
            "the new one"
        );
        // A question of several lines stays whole (E kept only its first line).
        assert_eq!(
            question_in("user: a\nbot: b\nuser: first line\nsecond line"),
            "first line\nsecond line"
        );
        // A transcript that ends with a reply: the last question, without it.
        assert_eq!(question_in("user: q\nbot: r"), "q");
    }

    #[test]
    fn a_message_without_a_user_line_is_the_question_whole() {
        assert_eq!(question_in("Hello"), "Hello");
        assert_eq!(question_in("  two\nlines  "), "two\nlines");
        assert_eq!(
            question_in("User: capitalised is not E's prefix"),
            "User: capitalised is not E's prefix"
        );
        assert_eq!(
            question_in(" user: indented is not either"),
            "user: indented is not either"
        );
    }

    #[test]
    fn an_empty_question_is_empty() {
        assert_eq!(question_in("user:"), "");
        assert_eq!(question_in("user: hi\nbot: hello\nuser:   "), "");
        assert_eq!(question_in(""), "");
    }
}
