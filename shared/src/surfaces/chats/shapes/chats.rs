use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::conversation::pair_turns;
use crate::conversation::tree::Tree;
use crate::http::budget::Budget;
use crate::llm::Usage;
use crate::store::{Chat, Message};
use crate::time::{display, iso};

/// `POST /api/chats/` (and `/api/chats/stream/`).
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct SendChatRequest {
    /// The message; required unless `end_session` is true. At most 16 000 characters.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 16000, pattern = r"\S")]
    pub content: Option<String>,
    /// End the open (or given) chat without asking the model.
    #[serde(default)]
    pub end_session: bool,
    /// Continue this chat, or create it with this id (a UUID) if it does not exist.
    #[serde(default)]
    #[schema(format = Uuid)]
    pub chat_id: Option<String>,
    #[serde(default)]
    pub provider: Option<String>,
    /// A model of the provider, or `provider/model`.
    #[serde(default)]
    pub model: Option<String>,
}

/// One exchange of a chat, as dialect A shows it.
#[derive(Serialize, ToSchema)]
pub struct TurnView {
    /// The id of the user's message.
    pub message_id: Uuid,
    #[serde(rename = "You")]
    pub you: String,
    /// The current reply; `null` while there is none (e.g. the model failed).
    #[serde(rename = "Bot")]
    pub bot: Option<String>,
    /// `DD/MM/YYYY HH:MM:SS` in the display zone.
    pub timestamp: String,
}

#[derive(Serialize, ToSchema)]
pub struct ChatView {
    pub chat_id: Uuid,
    /// The same as `chat_id` (dialect A calls a chat a session).
    pub session_id: Uuid,
    /// The chat's number in its owner's account (1, 2, 3…): its id in the dialects
    /// that use integers.
    pub number: i64,
    pub user_id: Uuid,
    pub title: Option<String>,
    /// Display-formatted.
    pub start_time: String,
    /// Display-formatted; `null` while the chat is open.
    pub end_time: Option<String>,
    /// ISO 8601, UTC.
    pub created_at: String,
    /// ISO 8601, UTC; `null` while the chat is open.
    pub ended_at: Option<String>,
    pub conversation: Vec<TurnView>,
    /// Present (and true) only when the conversation was too long for one response
    /// and ends early; the chat's messages route pages through all of it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub conversation_truncated: bool,
}

impl ChatView {
    /// `messages` are the chat's current messages, oldest first; the turns that fit
    /// what is left of `budget` are shown (at least the first).
    pub fn build(chat: &Chat, messages: &[Message], zone: Tz, budget: &mut Budget) -> Self {
        let turns = pair_turns(messages).into_iter().map(|(question, reply)| TurnView {
            message_id: question.id,
            you: question.content.clone(),
            bot: reply.map(|r| r.content.clone()),
            timestamp: display(question.created_at, zone),
        });
        let (conversation, conversation_truncated) = budget.take_leading(turns);
        Self {
            chat_id: chat.id,
            session_id: chat.id,
            number: chat.number,
            user_id: chat.user_id,
            title: chat.title.clone(),
            start_time: display(chat.created_at, zone),
            end_time: chat.end_time.map(|t| display(t, zone)),
            created_at: iso(chat.created_at),
            ended_at: chat.end_time.map(iso),
            conversation,
            conversation_truncated,
        }
    }
}

/// The exchange a send produced.
#[derive(Serialize, ToSchema)]
pub struct ReplyView {
    /// The id of the user's message.
    pub message_id: Uuid,
    /// The id of the assistant's reply.
    pub reply_id: Uuid,
    #[serde(rename = "You")]
    pub you: String,
    #[serde(rename = "Bot")]
    pub bot: String,
    pub timestamp: String,
    pub provider: Option<String>,
    pub model: Option<String>,
    pub usage: Usage,
}

#[derive(Serialize, ToSchema)]
pub struct SendChatResponse {
    #[serde(flatten)]
    pub chat: ChatView,
    pub reply: ReplyView,
    pub tokens_remaining: i64,
}

/// What `POST /api/chats/` answers with 200: the reply in a chat that already
/// existed, or (with `end_session`) the ended session. Documentation only: the
/// handler answers one of the two.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum SendChatOrEnd {
    Sent(Box<SendChatResponse>),
    Ended(EndSessionResponse),
}

#[derive(Serialize, ToSchema)]
pub struct EndSessionResponse {
    pub message: String,
    pub start_time: String,
    pub end_time: Option<String>,
    pub session_id: Uuid,
    pub chat_id: Uuid,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateChatRequest {
    /// A new title (1–200 characters).
    #[serde(default)]
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub title: Option<String>,
    /// True ends the chat; false opens it again.
    #[serde(default)]
    pub end_session: Option<bool>,
}

#[derive(Serialize, ToSchema)]
pub struct DeletedChatsResponse {
    pub message: String,
    pub deleted: u64,
}

#[derive(Serialize, ToSchema)]
pub struct MessageView {
    pub message_id: Uuid,
    /// `user` or `assistant`.
    pub role: String,
    pub content: String,
    /// ISO 8601, UTC.
    pub created_at: String,
    /// Display-formatted.
    pub timestamp: String,
    pub edited_at: Option<String>,
    pub provider: Option<String>,
    pub model: Option<String>,
    /// For a reply: the user message it answers.
    pub reply_to: Option<Uuid>,
    /// A streamed reply whose client left before the end: the text so far.
    pub partial: bool,
}

impl MessageView {
    pub fn build(message: &Message, zone: Tz) -> Self {
        Self {
            message_id: message.id,
            role: message.role.as_str().to_string(),
            content: message.content.clone(),
            created_at: iso(message.created_at),
            timestamp: display(message.created_at, zone),
            edited_at: message.edited_at.map(iso),
            provider: message.provider.clone(),
            model: message.model.clone(),
            reply_to: message.reply_to,
            partial: message.partial,
        }
    }
}

/// Where a message sits among the messages with the same parent: 1-based.
#[derive(Serialize, ToSchema, Clone, Copy, Debug, PartialEq, Eq)]
pub struct BranchView {
    pub index: usize,
    pub count: usize,
}

/// A message of a chat's tree, as the messages list shows it.
#[derive(Serialize, ToSchema)]
pub struct TreeMessageView {
    #[serde(flatten)]
    pub message: MessageView,
    /// The message this one follows; `null` for a chat's first message.
    pub parent_id: Option<Uuid>,
    /// Its place among its siblings (the messages with the same parent, oldest
    /// first): versions of a reply, or questions edited as new branches.
    pub branch: BranchView,
    /// Every sibling's id, this message's included, oldest first.
    pub sibling_ids: Vec<Uuid>,
    /// On the chat's active branch (the one the model sees).
    pub active: bool,
}

impl TreeMessageView {
    pub fn build(message: &Message, tree: &Tree, zone: Tz) -> Self {
        let placement = tree.placement(message.id);
        let (parent_id, branch, sibling_ids) = match placement {
            Some(p) => (
                p.parent_id,
                BranchView {
                    index: p.index,
                    count: p.count,
                },
                p.sibling_ids,
            ),
            None => (None, BranchView { index: 1, count: 1 }, vec![message.id]),
        };
        Self {
            message: MessageView::build(message, zone),
            parent_id,
            branch,
            sibling_ids,
            active: !message.superseded,
        }
    }
}

/// `POST /api/chats/{chat_id}/messages/{message_id}/branches/`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateBranchRequest {
    /// The new question, beside the message named in the path.
    #[schema(min_length = 1, max_length = 16000, pattern = r"\S")]
    pub content: String,
    #[serde(default)]
    pub provider: Option<String>,
    /// A model of the provider, or `provider/model`.
    #[serde(default)]
    pub model: Option<String>,
}

/// A reply with what it cost.
#[derive(Serialize, ToSchema)]
pub struct AnsweredView {
    #[serde(flatten)]
    pub message: MessageView,
    pub usage: Usage,
}

#[derive(Serialize, ToSchema)]
pub struct BranchCreatedResponse {
    pub chat_id: Uuid,
    /// The new user message.
    pub message_id: Uuid,
    pub parent_id: Option<Uuid>,
    /// The new message's place among its siblings: the last.
    pub branch: BranchView,
    /// The model's answer, now the active branch's last message.
    pub reply: AnsweredView,
    pub tokens_remaining: i64,
}

/// `PUT /api/chats/{chat_id}/active/`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetActiveRequest {
    /// Any message of the chat: the branch through it becomes the active one.
    #[schema(format = Uuid)]
    pub message_id: String,
}

#[derive(Serialize, ToSchema)]
pub struct ActiveBranchResponse {
    pub chat_id: Uuid,
    /// The active branch's last message: the newest message under the one named.
    pub leaf_id: Uuid,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EditMessageRequest {
    #[schema(min_length = 1, max_length = 16000, pattern = r"\S")]
    pub content: String,
    /// On a user message: answer it again with the new content.
    #[serde(default)]
    pub regenerate: bool,
    #[serde(default)]
    pub provider: Option<String>,
    #[serde(default)]
    pub model: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct EditMessageResponse {
    pub message: String,
    #[serde(flatten)]
    pub edited: MessageView,
    pub chat_id: Uuid,
    /// The new reply, when `regenerate` was asked.
    pub reply: Option<RegeneratedView>,
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct RegenerateRequest {
    #[serde(default)]
    pub provider: Option<String>,
    #[serde(default)]
    pub model: Option<String>,
}

/// An earlier reply, kept when a new one was generated.
#[derive(Serialize, ToSchema)]
pub struct VersionView {
    pub message_id: Uuid,
    pub content: String,
    pub created_at: String,
    pub provider: Option<String>,
    pub model: Option<String>,
}

impl From<&Message> for VersionView {
    fn from(m: &Message) -> Self {
        Self {
            message_id: m.id,
            content: m.content.clone(),
            created_at: iso(m.created_at),
            provider: m.provider.clone(),
            model: m.model.clone(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct RegeneratedView {
    pub chat_id: Uuid,
    #[serde(flatten)]
    pub reply: MessageView,
    pub usage: Usage,
    /// Earlier replies to the same message, oldest first.
    pub versions: Vec<VersionView>,
    pub tokens_remaining: i64,
}
