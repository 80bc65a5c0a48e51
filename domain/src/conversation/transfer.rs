//! Export and import (API.md §7): a user's chats as one document, and documents
//! read back into new chats — this API's own export, or a ChatGPT data export's
//! `conversations.json`. Reading a document checks all of it before anything is
//! stored, and a problem is named by where it is (`chats[2].messages[5].role`).
//! Nothing here touches the store: `plan` turns what was read into the records a
//! store writes.

use chrono::{DateTime, TimeZone, Utc};
use serde_json::{Map, Value};
use std::collections::HashMap;
use uuid::Uuid;

use super::new_message;
use super::tree::Tree;
use crate::store::{Chat, Chats, Message, Role, StoreError, ROOT_PARENT};

/// The `format` of this API's own export.
pub const FORMAT: &str = "chatbot-export";
pub const VERSION: i64 = 1;
/// The most chats and messages one import may hold (a bigger export is imported
/// in several calls).
pub const MAX_CHATS: usize = 1000;
pub const MAX_MESSAGES: usize = 20_000;
/// Titles longer than this are cut (the API's own limit on a title).
pub const MAX_TITLE_CHARS: usize = 200;
/// The provider recorded on replies imported from ChatGPT.
pub const CHATGPT: &str = "chatgpt";

/// A chat read from a document, its messages parents first.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportedChat {
    pub title: Option<String>,
    pub created_at: DateTime<Utc>,
    pub messages: Vec<ImportedMessage>,
    /// The last message of the branch to show; else the newest message's branch.
    pub active_leaf: Option<usize>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ImportedMessage {
    /// An earlier message of the same chat.
    pub parent: Option<usize>,
    pub role: Role,
    pub content: String,
    pub created_at: DateTime<Utc>,
    pub provider: Option<String>,
    pub model: Option<String>,
}

/// What is wrong with a document, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportError {
    pub at: String,
    pub problem: String,
}

fn wrong(at: impl Into<String>, problem: impl Into<String>) -> ImportError {
    ImportError {
        at: at.into(),
        problem: problem.into(),
    }
}

/// Reads either kind of document: an object is this API's export, an array a
/// ChatGPT `conversations.json`.
pub fn read_document(document: &Value, now: DateTime<Utc>) -> Result<Vec<ImportedChat>, ImportError> {
    let chats = match document {
        Value::Object(object) => read_own(object, now)?,
        Value::Array(conversations) => read_chatgpt(conversations, now)?,
        _ => {
            return Err(wrong(
                "$",
                "expected this API's export (an object) or a ChatGPT conversations.json (an array)",
            ))
        }
    };
    if chats.len() > MAX_CHATS {
        return Err(wrong(
            "$",
            format!("at most {MAX_CHATS} chats per import; import in several calls"),
        ));
    }
    let messages: usize = chats.iter().map(|c| c.messages.len()).sum();
    if messages > MAX_MESSAGES {
        return Err(wrong(
            "$",
            format!("at most {MAX_MESSAGES} messages per import; import in several calls"),
        ));
    }
    Ok(chats)
}

fn read_own(document: &Map<String, Value>, now: DateTime<Utc>) -> Result<Vec<ImportedChat>, ImportError> {
    match document.get("format") {
        Some(Value::String(format)) if format == FORMAT => {}
        _ => return Err(wrong("format", format!("expected \"{FORMAT}\""))),
    }
    match document.get("version").and_then(Value::as_i64) {
        Some(VERSION) => {}
        _ => return Err(wrong("version", format!("expected {VERSION}"))),
    }
    let Some(Value::Array(chats)) = document.get("chats") else {
        return Err(wrong("chats", "expected an array of chats"));
    };
    chats
        .iter()
        .enumerate()
        .map(|(n, chat)| read_own_chat(chat, &format!("chats[{n}]"), now))
        .collect()
}

fn read_own_chat(chat: &Value, at: &str, now: DateTime<Utc>) -> Result<ImportedChat, ImportError> {
    let Value::Object(chat) = chat else {
        return Err(wrong(at, "expected an object"));
    };
    let title = optional_string(chat, "title", at)?;
    let created_at = match chat.get("created_at") {
        None | Some(Value::Null) => now,
        Some(value) => time(value, &format!("{at}.created_at"))?,
    };
    let Some(Value::Array(messages)) = chat.get("messages") else {
        return Err(wrong(format!("{at}.messages"), "expected an array of messages"));
    };
    let mut read = Vec::with_capacity(messages.len());
    let mut ids: HashMap<&str, usize> = HashMap::new();
    let mut active = Vec::new();
    for (n, message) in messages.iter().enumerate() {
        let at = format!("{at}.messages[{n}]");
        let Value::Object(message) = message else {
            return Err(wrong(at, "expected an object"));
        };
        let Some(Value::String(id)) = message.get("id") else {
            return Err(wrong(format!("{at}.id"), "expected a string"));
        };
        let parent = match message.get("parent_id") {
            None | Some(Value::Null) => None,
            Some(Value::String(parent)) => Some(*ids.get(parent.as_str()).ok_or_else(|| {
                wrong(
                    format!("{at}.parent_id"),
                    "names no message listed before it in this chat (parents come first)",
                )
            })?),
            Some(_) => return Err(wrong(format!("{at}.parent_id"), "expected a string or null")),
        };
        let role = match message.get("role").and_then(Value::as_str).and_then(Role::parse) {
            Some(role) => role,
            None => return Err(wrong(format!("{at}.role"), "expected \"user\" or \"assistant\"")),
        };
        let Some(Value::String(content)) = message.get("content") else {
            return Err(wrong(format!("{at}.content"), "expected a string"));
        };
        let created_at = match message.get("created_at") {
            None | Some(Value::Null) => created_at,
            Some(value) => time(value, &format!("{at}.created_at"))?,
        };
        if message.get("active").and_then(Value::as_bool) == Some(true) {
            active.push(read.len());
        }
        if ids.insert(id.as_str(), read.len()).is_some() {
            return Err(wrong(format!("{at}.id"), "repeats the id of an earlier message"));
        }
        read.push(ImportedMessage {
            parent,
            role,
            content: content.clone(),
            created_at,
            provider: optional_string(message, "provider", &at)?,
            model: optional_string(message, "model", &at)?,
        });
    }
    // The active branch's leaf: its last message, if the export marked one.
    let active_leaf = active
        .iter()
        .copied()
        .find(|&i| !active.iter().any(|&j| read[j].parent == Some(i)));
    Ok(ImportedChat {
        title,
        created_at,
        messages: read,
        active_leaf,
    })
}

fn optional_string(object: &Map<String, Value>, field: &str, at: &str) -> Result<Option<String>, ImportError> {
    match object.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(value)) => Ok(Some(value.clone())),
        Some(_) => Err(wrong(format!("{at}.{field}"), "expected a string or null")),
    }
}

/// An RFC 3339 time (this API's export) or seconds since 1970 (ChatGPT's).
fn time(value: &Value, at: &str) -> Result<DateTime<Utc>, ImportError> {
    let parsed = match value {
        Value::String(text) => DateTime::parse_from_rfc3339(text).ok().map(|t| t.with_timezone(&Utc)),
        Value::Number(seconds) => seconds
            .as_f64()
            .filter(|s| s.is_finite() && (0.0..1e11).contains(s))
            .and_then(|s| Utc.timestamp_millis_opt((s * 1000.0).round() as i64).single()),
        _ => None,
    };
    parsed.ok_or_else(|| wrong(at, "expected an RFC 3339 time or seconds since 1970"))
}

/// ChatGPT's export: a list of conversations, each a `mapping` of nodes by id
/// (`message`, `parent`, `children`) and the `current_node` shown last. Only the
/// user's and the assistant's messages are kept; the others (system prompts, tool
/// calls, the empty root) are skipped and their children hang from the nearest
/// kept message above.
fn read_chatgpt(conversations: &[Value], now: DateTime<Utc>) -> Result<Vec<ImportedChat>, ImportError> {
    conversations
        .iter()
        .enumerate()
        .map(|(n, conversation)| read_conversation(conversation, &format!("[{n}]"), now))
        .collect()
}

fn read_conversation(conversation: &Value, at: &str, now: DateTime<Utc>) -> Result<ImportedChat, ImportError> {
    let Value::Object(conversation) = conversation else {
        return Err(wrong(at, "expected a conversation object"));
    };
    let title = optional_string(conversation, "title", at)?;
    let created_at = match conversation.get("create_time") {
        None | Some(Value::Null) => now,
        Some(value) => time(value, &format!("{at}.create_time"))?,
    };
    let Some(Value::Object(mapping)) = conversation.get("mapping") else {
        return Err(wrong(format!("{at}.mapping"), "expected an object of nodes"));
    };
    // Every node's parent, checked before the walk.
    let mut parents: HashMap<&str, Option<&str>> = HashMap::new();
    for (key, node) in mapping {
        let at = format!("{at}.mapping.{key}");
        let Value::Object(node) = node else {
            return Err(wrong(at, "expected a node object"));
        };
        let parent = match node.get("parent") {
            None | Some(Value::Null) => None,
            Some(Value::String(parent)) if mapping.contains_key(parent) => Some(parent.as_str()),
            Some(Value::String(_)) => return Err(wrong(format!("{at}.parent"), "names no node of the mapping")),
            Some(_) => return Err(wrong(format!("{at}.parent"), "expected a string or null")),
        };
        parents.insert(key.as_str(), parent);
    }
    // Parents first: a walk down from the roots, children oldest first.
    let mut children: HashMap<Option<&str>, Vec<&str>> = HashMap::new();
    for (key, parent) in &parents {
        children.entry(*parent).or_default().push(key);
    }
    let node_time = |key: &str| -> f64 {
        mapping[key]
            .get("message")
            .and_then(|m| m.get("create_time"))
            .and_then(Value::as_f64)
            .unwrap_or(0.0)
    };
    for list in children.values_mut() {
        list.sort_by(|a, b| node_time(a).total_cmp(&node_time(b)).then(a.cmp(b)));
    }
    let mut order = Vec::with_capacity(mapping.len());
    let mut stack: Vec<&str> = children.get(&None).cloned().unwrap_or_default();
    stack.reverse();
    while let Some(key) = stack.pop() {
        order.push(key);
        if let Some(below) = children.get(&Some(key)) {
            stack.extend(below.iter().rev());
        }
    }
    if order.len() != mapping.len() {
        return Err(wrong(
            format!("{at}.mapping"),
            "some nodes' parents form a loop: no walk from a root reaches them",
        ));
    }
    // The kept message each node stands for: itself, or the nearest kept above.
    let mut kept: HashMap<&str, Option<usize>> = HashMap::new();
    let mut messages: Vec<ImportedMessage> = Vec::new();
    for key in order {
        let parent = parents[key].and_then(|p| kept[p]);
        let message = chatgpt_message(&mapping[key], &format!("{at}.mapping.{key}.message"))?;
        let stands_for = match message {
            Some((role, content, time, model)) => {
                messages.push(ImportedMessage {
                    parent,
                    role,
                    content,
                    created_at: time.unwrap_or(created_at),
                    provider: (role == Role::Assistant).then(|| CHATGPT.to_string()),
                    model,
                });
                Some(messages.len() - 1)
            }
            None => parent,
        };
        kept.insert(key, stands_for);
    }
    let active_leaf = conversation
        .get("current_node")
        .and_then(Value::as_str)
        .and_then(|node| kept.get(node).copied().flatten());
    Ok(ImportedChat {
        title,
        created_at,
        messages,
        active_leaf,
    })
}

type ChatGptMessage = (Role, String, Option<DateTime<Utc>>, Option<String>);

/// A node's message if it is one to keep: the user's or the assistant's, with text.
fn chatgpt_message(node: &Value, at: &str) -> Result<Option<ChatGptMessage>, ImportError> {
    let message = match node.get("message") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Object(message)) => message,
        Some(_) => return Err(wrong(at, "expected an object or null")),
    };
    let role = match message
        .get("author")
        .and_then(|a| a.get("role"))
        .and_then(Value::as_str)
    {
        Some("user") => Role::User,
        Some("assistant") => Role::Assistant,
        Some(_) => return Ok(None),
        None => return Err(wrong(format!("{at}.author.role"), "expected a string")),
    };
    let content = message.get("content");
    // Text is in `parts` (strings among other kinds of part) or in `text`.
    let text = match content.and_then(|c| c.get("parts")) {
        Some(Value::Array(parts)) => parts.iter().filter_map(Value::as_str).collect::<Vec<_>>().join("\n\n"),
        Some(Value::Null) | None => match content.and_then(|c| c.get("text")) {
            Some(Value::String(text)) => text.clone(),
            _ => String::new(),
        },
        Some(_) => return Err(wrong(format!("{at}.content.parts"), "expected an array")),
    };
    if text.trim().is_empty() {
        return Ok(None);
    }
    let time = match message.get("create_time") {
        None | Some(Value::Null) => None,
        Some(value) => Some(time(value, &format!("{at}.create_time"))?),
    };
    let model = message
        .get("metadata")
        .and_then(|m| m.get("model_slug"))
        .and_then(Value::as_str)
        .map(str::to_string);
    Ok(Some((role, text, time, model)))
}

/// The records an imported chat becomes: a new chat of `user_id` numbered `number`
/// (ended, so it never becomes the open chat a send without `chat_id` continues),
/// and its messages with new ids, the tree kept, the active branch the one marked
/// (else the newest message's).
pub fn plan(user_id: Uuid, number: i64, chat: &ImportedChat) -> (Chat, Vec<Message>) {
    let id = Uuid::now_v7();
    let last = chat
        .messages
        .iter()
        .map(|m| m.created_at)
        .max()
        .unwrap_or(chat.created_at);
    let record = Chat {
        id,
        user_id,
        number,
        title: chat
            .title
            .as_ref()
            .map(|t| t.trim().chars().take(MAX_TITLE_CHARS).collect::<String>())
            .filter(|t| !t.is_empty()),
        created_at: chat.created_at,
        end_time: Some(last.max(chat.created_at)),
    };
    let mut messages: Vec<Message> = Vec::with_capacity(chat.messages.len());
    for read in &chat.messages {
        let mut message = new_message(id, read.role, read.content.clone(), read.created_at);
        let parent = read.parent.map(|p| &messages[p]);
        message.parent_id = Some(parent.map_or(ROOT_PARENT, |p| p.id));
        if read.role == Role::Assistant {
            message.reply_to = parent.filter(|p| p.role == Role::User).map(|p| p.id);
        }
        message.provider = read.provider.clone();
        message.model = read.model.clone();
        messages.push(message);
    }
    let leaf = chat.active_leaf.or_else(|| {
        // The newest message (the last listed among equals).
        (0..messages.len()).rev().max_by_key(|&i| messages[i].created_at)
    });
    let mut on_path = vec![false; messages.len()];
    let mut at = leaf;
    while let Some(i) = at {
        on_path[i] = true;
        at = chat.messages[i].parent;
    }
    for (message, on) in messages.iter_mut().zip(on_path) {
        message.superseded = !on;
    }
    (record, messages)
}

/// Stores the chats read from a document as new chats of `user_id`, in order,
/// each whole or not at all. On a failure, the chats stored before it stay and
/// are named with the error, so a client knows what not to send again.
pub async fn import(
    store: &dyn Chats,
    user_id: Uuid,
    chats: &[ImportedChat],
) -> Result<Vec<Uuid>, (Vec<Uuid>, StoreError)> {
    let mut stored = Vec::with_capacity(chats.len());
    for chat in chats {
        let number = match store.next_chat_number(user_id).await {
            Ok(number) => number,
            Err(err) => return Err((stored, err)),
        };
        let (record, messages) = plan(user_id, number, chat);
        if let Err(err) = store.import_chat(&record, &messages).await {
            return Err((stored, err));
        }
        stored.push(record.id);
    }
    Ok(stored)
}

/// A chat's messages for an export: parents before children (a reply regenerated
/// later than what followed it still comes first), siblings oldest first.
pub fn parents_first(tree: &Tree) -> Vec<&Message> {
    let mut children: HashMap<Option<Uuid>, Vec<&Message>> = HashMap::new();
    for message in tree.messages() {
        children.entry(tree.parent_of(message.id)).or_default().push(message);
    }
    let mut order = Vec::with_capacity(tree.messages().len());
    let mut stack: Vec<&Message> = children.get(&None).cloned().unwrap_or_default();
    stack.reverse();
    while let Some(message) = stack.pop() {
        order.push(message);
        if let Some(below) = children.get(&Some(message.id)) {
            stack.extend(below.iter().rev());
        }
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 6, 12, 0, 0).unwrap()
    }

    fn own(chats: Value) -> Value {
        json!({"format": FORMAT, "version": 1, "chats": chats})
    }

    #[test]
    fn an_own_export_is_read_with_its_tree_and_active_branch() {
        let document = own(json!([{
            "id": "c1", "title": "Rust", "created_at": "2026-01-01T10:00:00Z",
            "messages": [
                {"id": "q", "parent_id": null, "role": "user", "content": "hi", "created_at": "2026-01-01T10:00:00Z", "active": true},
                {"id": "a", "parent_id": "q", "role": "assistant", "content": "hello", "created_at": "2026-01-01T10:00:01Z",
                 "provider": "flan-t5", "model": "flan-t5-base", "active": false},
                {"id": "b", "parent_id": "q", "role": "assistant", "content": "hey", "created_at": "2026-01-01T10:00:02Z", "active": true},
            ]
        }]));
        let chats = read_document(&document, now()).unwrap();
        assert_eq!(chats.len(), 1);
        let chat = &chats[0];
        assert_eq!(chat.title.as_deref(), Some("Rust"));
        assert_eq!(chat.messages[1].parent, Some(0));
        assert_eq!(chat.messages[1].model.as_deref(), Some("flan-t5-base"));
        assert_eq!(chat.active_leaf, Some(2));
        let user = Uuid::now_v7();
        let (record, messages) = plan(user, 7, chat);
        assert_eq!((record.user_id, record.number), (user, 7));
        assert!(record.end_time.is_some(), "an imported chat is never the open one");
        assert_eq!(messages[0].parent_id, Some(ROOT_PARENT));
        assert_eq!(messages[1].parent_id, Some(messages[0].id));
        assert_eq!(messages[2].reply_to, Some(messages[0].id));
        let active: Vec<bool> = messages.iter().map(|m| !m.superseded).collect();
        assert_eq!(active, [true, false, true]);
        let tree = Tree::new(messages);
        assert_eq!(tree.placement(tree.messages()[2].id).unwrap().count, 2);
    }

    #[test]
    fn without_marks_the_newest_message_s_branch_is_active() {
        let document = own(json!([{
            "title": null,
            "messages": [
                {"id": "q", "role": "user", "content": "hi", "created_at": "2026-01-01T10:00:00Z"},
                {"id": "q2", "role": "user", "content": "hi again", "created_at": "2026-01-01T10:05:00Z"},
                {"id": "a", "parent_id": "q", "role": "assistant", "content": "hello", "created_at": "2026-01-01T10:00:01Z"},
            ]
        }]));
        let chat = &read_document(&document, now()).unwrap()[0];
        assert_eq!(chat.created_at, now(), "a chat without a time is imported now");
        let (_, messages) = plan(Uuid::now_v7(), 1, chat);
        let active: Vec<&str> = messages
            .iter()
            .filter(|m| !m.superseded)
            .map(|m| m.content.as_str())
            .collect();
        assert_eq!(active, ["hi again"]);
    }

    #[test]
    fn problems_are_named_by_where_they_are() {
        let cases = [
            (json!({"format": "other", "version": 1, "chats": []}), "format"),
            (json!({"format": FORMAT, "version": 2, "chats": []}), "version"),
            (json!({"format": FORMAT, "version": 1}), "chats"),
            (own(json!([7])), "chats[0]"),
            (own(json!([{"messages": {}}])), "chats[0].messages"),
            (
                own(
                    json!([{"messages": [{"id": "a", "role": "user", "content": "x"}, {"id": "b", "role": "robot", "content": "x"}]}]),
                ),
                "chats[0].messages[1].role",
            ),
            (
                own(json!([{"messages": [{"id": "a", "role": "user", "content": 5}]}])),
                "chats[0].messages[0].content",
            ),
            (
                own(
                    json!([{"messages": [{"id": "a", "parent_id": "b", "role": "user", "content": "x"}, {"id": "b", "role": "user", "content": "x"}]}]),
                ),
                "chats[0].messages[0].parent_id",
            ),
            (
                own(
                    json!([{"messages": [{"id": "a", "role": "user", "content": "x"}, {"id": "a", "role": "user", "content": "y"}]}]),
                ),
                "chats[0].messages[1].id",
            ),
            (
                own(json!([{"messages": [{"id": "a", "role": "user", "content": "x", "created_at": "yesterday"}]}])),
                "chats[0].messages[0].created_at",
            ),
            (own(json!([{"title": 3, "messages": []}])), "chats[0].title"),
            (json!("text"), "$"),
            (json!([{"mapping": []}]), "[0].mapping"),
            (json!([{"mapping": {"a": {"parent": "zz"}}}]), "[0].mapping.a.parent"),
            (
                json!([{"mapping": {"a": {"parent": "b"}, "b": {"parent": "a"}}}]),
                "[0].mapping",
            ),
            (
                json!([{"mapping": {"a": {"parent": null, "message": {"author": {}, "content": {"parts": ["x"]}}}}}]),
                "[0].mapping.a.message.author.role",
            ),
        ];
        for (document, at) in cases {
            let err = read_document(&document, now()).unwrap_err();
            assert_eq!(err.at, at, "{document}: {}", err.problem);
        }
        let many = own(Value::Array(vec![json!({"messages": []}); MAX_CHATS + 1]));
        assert!(read_document(&many, now())
            .unwrap_err()
            .problem
            .contains("several calls"));
    }

    #[test]
    fn a_chatgpt_export_keeps_its_tree_its_current_branch_and_skips_other_roles() {
        let document = json!([{
            "title": "Packing list",
            "create_time": 1_700_000_000.5,
            "current_node": "a2",
            "mapping": {
                "root": {"id": "root", "message": null, "parent": null, "children": ["sys"]},
                "sys": {"id": "sys", "parent": "root", "children": ["u1"],
                        "message": {"author": {"role": "system"}, "content": {"content_type": "text", "parts": [""]}}},
                "u1": {"id": "u1", "parent": "sys", "children": ["a1", "a2"],
                       "message": {"author": {"role": "user"}, "create_time": 1_700_000_001.0,
                                   "content": {"content_type": "text", "parts": ["What to pack?", {"asset_pointer": "x"}]}}},
                "a1": {"id": "a1", "parent": "u1", "children": [],
                       "message": {"author": {"role": "assistant"}, "create_time": 1_700_000_002.0,
                                   "content": {"content_type": "text", "parts": ["Boots."]}, "metadata": {"model_slug": "gpt-4o"}}},
                "a2": {"id": "a2", "parent": "u1", "children": ["t"],
                       "message": {"author": {"role": "assistant"}, "create_time": 1_700_000_003.0,
                                   "content": {"content_type": "text", "parts": ["Boots and a map."]}}},
                "t": {"id": "t", "parent": "a2", "children": [],
                      "message": {"author": {"role": "tool"}, "content": {"content_type": "text", "parts": ["..."]}}}
            }
        }]);
        let chats = read_document(&document, now()).unwrap();
        let chat = &chats[0];
        assert_eq!(chat.title.as_deref(), Some("Packing list"));
        let read: Vec<(&str, Option<usize>)> = chat.messages.iter().map(|m| (m.content.as_str(), m.parent)).collect();
        assert_eq!(
            read,
            [
                ("What to pack?", None),
                ("Boots.", Some(0)),
                ("Boots and a map.", Some(0))
            ]
        );
        assert_eq!(chat.messages[1].provider.as_deref(), Some(CHATGPT));
        assert_eq!(chat.messages[1].model.as_deref(), Some("gpt-4o"));
        assert_eq!(chat.messages[0].created_at.timestamp(), 1_700_000_001);
        assert_eq!(chat.created_at.timestamp_millis(), 1_700_000_000_500);
        assert_eq!(chat.active_leaf, Some(2));
        let (_, messages) = plan(Uuid::now_v7(), 1, chat);
        assert!(messages[1].superseded && !messages[2].superseded);
    }

    #[test]
    fn an_export_lists_parents_first_even_when_a_reply_is_newer_than_what_followed_it() {
        let chat = Uuid::now_v7();
        let at = |s| Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, s).unwrap();
        let q1 = new_message(chat, Role::User, "q1".into(), at(0));
        let mut q2 = new_message(chat, Role::User, "q2".into(), at(1));
        let mut a1 = new_message(chat, Role::Assistant, "a1".into(), at(2));
        a1.parent_id = Some(q1.id);
        a1.reply_to = Some(q1.id);
        q2.parent_id = Some(a1.id);
        let tree = Tree::new(vec![q2, a1, q1]);
        let order: Vec<&str> = parents_first(&tree).iter().map(|m| m.content.as_str()).collect();
        assert_eq!(order, ["q1", "a1", "q2"]);
    }
}
