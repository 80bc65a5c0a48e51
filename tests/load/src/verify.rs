//! The accounting after the load, read back through the API: each user's balance,
//! its chats, and every chat's messages against what the user was told.

use serde_json::Value;
use std::collections::BTreeSet;

use crate::api::Client;
use crate::workload::{ChatModel, UserModel};

/// Every broken invariant, as a sentence naming the user and chat.
pub async fn all(client: &Client, users: &[UserModel], tokens_per_request: i64) -> Vec<String> {
    let mut failures = Vec::new();
    for user in users {
        if let Err(failure) = user_checks(client, user, tokens_per_request).await {
            failures.push(failure);
        }
    }
    failures
}

async fn user_checks(client: &Client, user: &UserModel, tokens_per_request: i64) -> Result<(), String> {
    let token = Some(user.token.as_str());
    balance_matches(user, &get(client, "/api/tokens/", token).await?, tokens_per_request)?;
    chats_match(user, &pages(client, "/api/chats/?limit=50", token).await?)?;
    for chat in &user.chats {
        let path = format!("/api/chats/{}/messages/?limit=100", chat.id);
        messages_match(user, chat, &pages(client, &path, token).await?)?;
    }
    for id in &user.deleted {
        let answer = client.call("GET", &format!("/api/chats/{id}/"), token, None).await?;
        if answer.status != 404 {
            return Err(format!(
                "{}: deleted chat {id} answers {}",
                user.username, answer.status
            ));
        }
    }
    Ok(())
}

/// `GET /api/tokens/` is the starting balance less one charge per successful reply.
fn balance_matches(user: &UserModel, balance: &Value, tokens_per_request: i64) -> Result<(), String> {
    let expected = user.start_tokens - tokens_per_request * user.charged;
    if balance["tokens"] != expected
        || balance["spent"] != tokens_per_request * user.charged
        || balance["requests"] != user.charged
    {
        return Err(format!(
            "{}: balance {balance} but {} charged replies from {} leave {expected}",
            user.username, user.charged, user.start_tokens
        ));
    }
    Ok(())
}

/// The user's chat list holds each of its chats once, and no other.
fn chats_match(user: &UserModel, listed: &[Value]) -> Result<(), String> {
    let ids: Vec<&str> = listed.iter().filter_map(|c| c["chat_id"].as_str()).collect();
    let unique: BTreeSet<&str> = ids.iter().copied().collect();
    let expected: BTreeSet<&str> = user.chats.iter().map(|c| c.id.as_str()).collect();
    if ids.len() != unique.len() || unique != expected {
        return Err(format!(
            "{}: chats listed {ids:?}, expected {expected:?}",
            user.username
        ));
    }
    Ok(())
}

/// The chat's user messages are exactly the accepted ones, in order, each with
/// exactly one current reply, and nothing else is stored in it.
fn messages_match(user: &UserModel, chat: &ChatModel, messages: &[Value]) -> Result<(), String> {
    let questions: Vec<(&str, &str)> = messages
        .iter()
        .filter(|m| m["role"] == "user")
        .map(|m| {
            (
                m["message_id"].as_str().unwrap_or(""),
                m["content"].as_str().unwrap_or(""),
            )
        })
        .collect();
    let expected: Vec<(&str, &str)> = chat
        .messages
        .iter()
        .map(|(id, content)| (id.as_str(), content.as_str()))
        .collect();
    if questions != expected {
        return Err(format!(
            "{}: chat {} holds user messages {questions:?}, expected {expected:?}",
            user.username, chat.id
        ));
    }
    for (id, _) in &expected {
        let replies = messages
            .iter()
            .filter(|m| m["role"] == "assistant" && m["reply_to"] == *id)
            .count();
        if replies != 1 {
            return Err(format!("{}: message {id} has {replies} current replies", user.username));
        }
    }
    if messages.len() != 2 * expected.len() {
        return Err(format!(
            "{}: chat {} holds {} messages for {} questions",
            user.username,
            chat.id,
            messages.len(),
            expected.len()
        ));
    }
    Ok(())
}

async fn get(client: &Client, path: &str, token: Option<&str>) -> Result<Value, String> {
    let answer = client.call("GET", path, token, None).await?;
    if answer.status != 200 {
        return Err(format!("GET {path}: status {}: {}", answer.status, answer.body));
    }
    Ok(answer.body)
}

/// Every item of a paged list, following `Link: rel="next"`.
async fn pages(client: &Client, first: &str, token: Option<&str>) -> Result<Vec<Value>, String> {
    let mut items = Vec::new();
    let mut path = Some(first.to_string());
    while let Some(current) = path {
        let answer = client.call("GET", &current, token, None).await?;
        if answer.status != 200 {
            return Err(format!("GET {current}: status {}: {}", answer.status, answer.body));
        }
        items.extend(answer.body.as_array().cloned().unwrap_or_default());
        path = answer.next;
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn user() -> UserModel {
        UserModel {
            username: "u".into(),
            token: "t".into(),
            start_tokens: 1000,
            charged: 3,
            chats: vec![ChatModel {
                id: "c1".into(),
                messages: vec![("m1".into(), "first".into()), ("m2".into(), "second".into())],
            }],
            deleted: vec![],
        }
    }

    fn question(id: &str, content: &str) -> Value {
        json!({"message_id": id, "role": "user", "content": content})
    }

    fn reply(id: &str, to: &str) -> Value {
        json!({"message_id": id, "role": "assistant", "content": "r", "reply_to": to})
    }

    #[test]
    fn a_balance_off_by_one_charge_is_caught() {
        let user = user();
        assert!(balance_matches(&user, &json!({"tokens": 700, "spent": 300, "requests": 3}), 100).is_ok());
        assert!(balance_matches(&user, &json!({"tokens": 800, "spent": 200, "requests": 2}), 100).is_err());
        assert!(balance_matches(&user, &json!({"tokens": 700, "spent": 300, "requests": 4}), 100).is_err());
    }

    #[test]
    fn a_chat_listed_twice_or_missing_or_unknown_is_caught() {
        let user = user();
        assert!(chats_match(&user, &[json!({"chat_id": "c1"})]).is_ok());
        assert!(chats_match(&user, &[json!({"chat_id": "c1"}), json!({"chat_id": "c1"})]).is_err());
        assert!(chats_match(&user, &[]).is_err());
        assert!(chats_match(&user, &[json!({"chat_id": "c1"}), json!({"chat_id": "c2"})]).is_err());
    }

    #[test]
    fn messages_lost_repeated_reordered_or_without_one_reply_are_caught() {
        let user = user();
        let chat = &user.chats[0];
        let good = [
            question("m1", "first"),
            reply("r1", "m1"),
            question("m2", "second"),
            reply("r2", "m2"),
        ];
        assert!(messages_match(&user, chat, &good).is_ok());
        let reordered = [
            question("m2", "second"),
            reply("r2", "m2"),
            question("m1", "first"),
            reply("r1", "m1"),
        ];
        assert!(messages_match(&user, chat, &reordered).is_err());
        let repeated = [
            good[0].clone(),
            good[1].clone(),
            good[0].clone(),
            good[2].clone(),
            good[3].clone(),
        ];
        assert!(messages_match(&user, chat, &repeated).is_err());
        assert!(messages_match(&user, chat, &good[..2]).is_err(), "a message lost");
        let two_replies = [
            good[0].clone(),
            good[1].clone(),
            reply("r3", "m1"),
            good[2].clone(),
            good[3].clone(),
        ];
        assert!(messages_match(&user, chat, &two_replies).is_err());
        let no_reply = [good[0].clone(), good[1].clone(), good[2].clone()];
        assert!(messages_match(&user, chat, &no_reply).is_err());
        let edited_elsewhere = [
            question("m1", "other"),
            good[1].clone(),
            good[2].clone(),
            good[3].clone(),
        ];
        assert!(messages_match(&user, chat, &edited_elsewhere).is_err());
    }
}
