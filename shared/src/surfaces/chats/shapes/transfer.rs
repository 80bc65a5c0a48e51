//! Export and import (API.md §7): the document `GET /api/export/` answers and
//! `POST /api/import/` reads back, and the ChatGPT export it also reads.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;
use uuid::Uuid;

/// The caller's chats, newest first; `next_cursor` when more follow.
#[derive(Serialize, ToSchema)]
pub struct ExportDocument {
    /// Always `chatbot-export`.
    pub format: &'static str,
    /// Always 1.
    pub version: i64,
    pub chats: Vec<ExportChat>,
    /// Present when the export goes on: `GET /api/export/?cursor=<this>`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ExportChat {
    pub id: Uuid,
    pub title: Option<String>,
    /// ISO 8601, UTC.
    pub created_at: String,
    /// Every message of the chat's tree, parents before children.
    pub messages: Vec<ExportMessage>,
}

#[derive(Serialize, ToSchema)]
pub struct ExportMessage {
    pub id: Uuid,
    /// `null` for a first message.
    pub parent_id: Option<Uuid>,
    /// `user` or `assistant`.
    pub role: String,
    pub content: String,
    /// ISO 8601, UTC.
    pub created_at: String,
    pub provider: Option<String>,
    pub model: Option<String>,
    /// On the chat's active branch.
    pub active: bool,
}

/// What `POST /api/import/` reads: this API's export, or a ChatGPT data export's
/// `conversations.json`. Documentation only: the handler reads the JSON itself to
/// name where a problem is.
#[derive(Deserialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum ImportDocument {
    Own(ImportExport),
    ChatGpt(Vec<ChatGptConversation>),
}

#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct ImportExport {
    /// `chatbot-export`.
    #[schema(pattern = "^chatbot-export$")]
    pub format: String,
    /// 1.
    #[schema(minimum = 1, maximum = 1)]
    pub version: i64,
    /// At most 1000 chats and 20 000 messages in one import.
    pub chats: Vec<ImportChat>,
}

#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct ImportChat {
    pub title: Option<String>,
    /// RFC 3339; the time of the import when absent.
    #[schema(format = DateTime)]
    pub created_at: Option<String>,
    pub messages: Vec<ImportMessage>,
}

#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct ImportMessage {
    /// Unique within its chat: what `parent_id` names.
    pub id: String,
    /// The `id` of a message listed before it in the same chat; null for a first message.
    pub parent_id: Option<String>,
    /// `user` or `assistant`.
    #[schema(pattern = "^(user|assistant)$")]
    pub role: String,
    pub content: String,
    /// RFC 3339; the chat's time when absent.
    #[schema(format = DateTime)]
    pub created_at: Option<String>,
    pub provider: Option<String>,
    pub model: Option<String>,
    /// Marks the active branch; the newest message's branch when none is marked.
    pub active: Option<bool>,
}

/// One conversation of ChatGPT's `conversations.json`.
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct ChatGptConversation {
    pub title: Option<String>,
    /// Seconds since 1970.
    #[schema(minimum = 0, maximum = 99999999999.0)]
    pub create_time: Option<f64>,
    /// The node shown last: its branch becomes the active one.
    pub current_node: Option<String>,
    /// The nodes by id; `parent` names another node of this mapping.
    pub mapping: BTreeMap<String, ChatGptNode>,
}

#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct ChatGptNode {
    pub parent: Option<String>,
    /// Null for the root; only the user's and the assistant's messages with text
    /// are imported.
    pub message: Option<ChatGptMessage>,
}

#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct ChatGptMessage {
    pub author: ChatGptAuthor,
    pub content: Option<ChatGptContent>,
    /// Seconds since 1970.
    #[schema(minimum = 0, maximum = 99999999999.0)]
    pub create_time: Option<f64>,
    /// `model_slug` names the model of a reply.
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
}

#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct ChatGptAuthor {
    /// `user` and `assistant` are imported; other roles are skipped.
    pub role: String,
}

#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct ChatGptContent {
    /// The text parts are joined; other parts (images: objects) are skipped.
    #[schema(value_type = Option<Vec<Object>>)]
    pub parts: Option<Vec<serde_json::Value>>,
    pub text: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ImportResponse {
    pub imported: usize,
    /// The new chats, in the document's order.
    pub chat_ids: Vec<Uuid>,
}
