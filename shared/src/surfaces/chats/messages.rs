use http::StatusCode;

use crate::conversation::reply::{self, Ask, Job, StoredReply};
use crate::conversation::tree::page_of;
use crate::conversation::{chats, owned_chat};
use crate::error::ApiError;
use crate::http::body::message_content;
use crate::http::call::{parse_uuid, Call};
use crate::http::cursor::List;
use crate::http::pagination::{next_link, Pager};
use crate::http::reply::Reply;
use crate::llm::Choice;
use crate::store::{Chat, Message, Role, User, ROOT_PARENT};
use crate::surfaces::chats::shapes::chats::*;

/// The chat's active branch, oldest first; `?branch=all`: every message of its tree.
pub async fn list_messages(call: &Call<'_>) -> Result<Reply, ApiError> {
    let chat = owned_chat(call.state.chats(), call.user()?, call.path_uuid("chat_id")?).await?;
    let every = match call.query_param("branch") {
        None | Some("active") => false,
        Some("all") => true,
        Some(_) => return Err(ApiError::invalid_field("branch", "`branch` must be `all` or `active`.")),
    };
    let zone = call.display_zone()?;
    let pager = Pager::new(call, List::Messages { chat_id: chat.id }).await?;
    let tree = chats::tree_of(call.state.messages(), &chat).await?;
    let messages = if every {
        page_of(&tree, tree.messages().iter().collect(), pager.store_page())
    } else {
        page_of(&tree, tree.active(), pager.store_page())
    };
    let (messages, mut paging) = pager.keep(messages, |m| m.id);
    let (views, _) = paging
        .budget
        .take_leading(messages.iter().map(|m| TreeMessageView::build(m, &tree, zone)));
    let next = paging.next_cursor(views.len());
    let reply = Reply::ok(views)?;
    Ok(match next {
        Some(cursor) => reply.with_header("link", next_link(call, &cursor)),
        None => reply,
    })
}

/// A new question beside a user message, answered: the branch it starts becomes
/// the active one (API.md §7).
pub async fn create_branch(call: &Call<'_>) -> Result<Reply, ApiError> {
    let (chat_id, message_id) = (call.path_uuid("chat_id")?, call.path_uuid("message_id")?);
    let body: CreateBranchRequest = call.json()?;
    let user = call.user()?;
    let chat = owned_chat(call.state.chats(), user, chat_id).await?;
    let zone = call.display_zone()?;
    let content = message_content(&body.content, "content")?;
    let tree = chats::tree_of(call.state.messages(), &chat).await?;
    let of = tree
        .get(message_id)
        .ok_or_else(|| ApiError::not_found("Message not found."))?;
    if of.role != Role::User {
        return Err(ApiError::invalid_field(
            "message_id",
            "Only a user message can start a branch; a reply is answered again with regenerate.",
        ));
    }
    let siblings = tree.placement(of.id).map_or(1, |p| p.count);
    let choice = call
        .state
        .llm()
        .choose(body.provider.as_deref(), body.model.as_deref())?;
    let job = Job {
        user: user.clone(),
        ask: Ask::Branch {
            chat,
            tree,
            of: message_id,
            content,
        },
        choice,
        max_new_tokens: None,
        key_id: call.api_key(),
    };
    let (stored, usage) = reply::whole_in_chat(&call.state.conversations(), job).await?;
    Reply::created(BranchCreatedResponse {
        chat_id: stored.chat.id,
        message_id: stored.question.id,
        parent_id: stored.question.parent_id.filter(|p| *p != ROOT_PARENT),
        branch: BranchView {
            index: siblings + 1,
            count: siblings + 1,
        },
        reply: AnsweredView {
            message: MessageView::build(&stored.reply, zone),
            usage,
        },
        tokens_remaining: stored.tokens_remaining,
    })
}

/// Makes the branch through a message the active one: it ends at the newest
/// message under it.
pub async fn set_active(call: &Call<'_>) -> Result<Reply, ApiError> {
    let chat_id = call.path_uuid("chat_id")?;
    let body: SetActiveRequest = call.json()?;
    let message_id = parse_uuid(&body.message_id, "message_id")?;
    let chat = owned_chat(call.state.chats(), call.user()?, chat_id).await?;
    let leaf = chats::activate_branch(call.state.chats(), call.state.messages(), &chat, message_id)
        .await?
        .ok_or_else(|| ApiError::not_found("Message not found."))?;
    Reply::ok(ActiveBranchResponse {
        chat_id: chat.id,
        leaf_id: leaf,
    })
}

pub async fn edit_message(call: &Call<'_>) -> Result<Reply, ApiError> {
    let (chat_id, message_id) = (call.path_uuid("chat_id")?, call.path_uuid("message_id")?);
    let body: EditMessageRequest = call.json()?;
    let user = call.user()?;
    let chat = owned_chat(call.state.chats(), user, chat_id).await?;
    let zone = call.display_zone()?;
    let message = chats::current_message(call.state.messages(), &chat, message_id)
        .await?
        .ok_or_else(|| ApiError::not_found("Message not found."))?;
    let content = message_content(&body.content, "content")?;
    if body.regenerate && message.role != Role::User {
        return Err(ApiError::invalid_field(
            "regenerate",
            "Only a user message can be answered again.",
        ));
    }
    // The choice is checked before anything is saved, so a bad provider changes nothing.
    let choice = if body.regenerate {
        Some(
            call.state
                .llm()
                .choose(body.provider.as_deref(), body.model.as_deref())?,
        )
    } else {
        None
    };
    let (message, reply) = match choice {
        // Saved by the reply pipeline once the request is charged: a 402 leaves
        // the message as it was.
        Some(choice) => {
            let again = Again {
                question: message,
                edit: Some(content),
                choice,
            };
            let (view, edited) = answer_again(call, user, chat.clone(), again, zone).await?;
            (edited, Some(view))
        }
        None => (
            chats::edit_message(call.state.messages(), message, content, call.now).await?,
            None,
        ),
    };
    Reply::ok(EditMessageResponse {
        message: "Message updated successfully".into(),
        edited: MessageView::build(&message, zone),
        chat_id: chat.id,
        reply,
    })
}

pub async fn regenerate(call: &Call<'_>) -> Result<Reply, ApiError> {
    let chat_id = call.path_uuid("chat_id")?;
    let body: RegenerateRequest = call.json()?;
    let user = call.user()?;
    let chat = owned_chat(call.state.chats(), user, chat_id).await?;
    let zone = call.display_zone()?;
    let choice = call
        .state
        .llm()
        .choose(body.provider.as_deref(), body.model.as_deref())?;
    let again = Again {
        question: last_question(call, &chat).await?,
        edit: None,
        choice,
    };
    Reply::ok(answer_again(call, user, chat, again, zone).await?.0)
}

/// The chat's newest user message: what a regeneration answers again (409 when
/// the chat has none yet).
pub(crate) async fn last_question(call: &Call<'_>, chat: &Chat) -> Result<Message, ApiError> {
    chats::last_question(call.state.messages(), chat).await?.ok_or_else(|| {
        ApiError::new(
            StatusCode::CONFLICT,
            "nothing_to_regenerate",
            "The chat has no message to answer yet.",
        )
    })
}

/// A user message to answer once more, with its new content when edited.
pub(crate) struct Again {
    pub question: Message,
    pub edit: Option<String>,
    pub choice: Choice,
}

/// Answers a question once more through the reply pipeline: the new reply with
/// the earlier ones listed as versions, and the question as saved.
pub(crate) async fn answer_again(
    call: &Call<'_>,
    user: &User,
    chat: Chat,
    again: Again,
    zone: chrono_tz::Tz,
) -> Result<(RegeneratedView, Message), ApiError> {
    let Again { question, edit, choice } = again;
    let job = Job {
        user: user.clone(),
        ask: Ask::Again { chat, question, edit },
        choice,
        max_new_tokens: None,
        key_id: call.api_key(),
    };
    let (
        StoredReply {
            chat,
            question,
            reply,
            tokens_remaining,
            ..
        },
        usage,
    ) = reply::whole_in_chat(&call.state.conversations(), job).await?;
    let versions = chats::reply_versions(call.state.messages(), &chat, &question).await?;
    let view = RegeneratedView {
        chat_id: chat.id,
        reply: MessageView::build(&reply, zone),
        usage,
        versions: versions
            .iter()
            .filter(|v| v.id != reply.id)
            .map(VersionView::from)
            .collect(),
        tokens_remaining,
    };
    Ok((view, question))
}
