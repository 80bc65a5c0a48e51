//! The accounting after the load, read back through the API and from the store
//! itself. For every account: `tokens + spent` is its start, `spent` is the cost
//! times the replies it was charged for and `requests` their count (no double
//! charge), and those replies are exactly the ones stored, current and
//! superseded versions counted in the store, plus those of the chats it deleted
//! (no lost reply, no charge left on a failed one); every chat holds exactly the
//! messages the user was told of, in order; deleted chats are gone. And the run
//! must have reached what it is there to test: a 402 and a refunded failure.

use chatbot_core::store::{Page, Store};
use serde_json::Value;
use std::collections::BTreeSet;
use uuid::Uuid;

use crate::api::Client;
use crate::workload::{ChatModel, UserModel};

/// Every broken invariant, as a sentence naming the user and chat. `store` is the
/// stack's own store, for the counts the API does not show (superseded replies).
pub async fn all(
    client: &Client,
    store: Option<&dyn Store>,
    users: &[UserModel],
    tokens_per_request: i64,
) -> Vec<String> {
    let mut failures = reached(users);
    for user in users {
        if let Err(failure) = user_checks(client, user, tokens_per_request).await {
            failures.push(failure);
        }
        if let Some(store) = store {
            if let Err(failure) = stored_matches(store, user, tokens_per_request).await {
                failures.push(failure);
            }
        }
    }
    failures
}

/// A run that never drained a balance or refunded a failure proved nothing about
/// either.
fn reached(users: &[UserModel]) -> Vec<String> {
    let refused: i64 = users.iter().map(|u| u.endings.refused).sum();
    let refunded: i64 = users.iter().map(|u| u.endings.refunded).sum();
    let mut failures = Vec::new();
    if refused == 0 {
        failures.push(
            "the run never reached a 402: no balance was drained (raise --requests, or lower INITIAL_TOKENS)"
                .to_string(),
        );
    }
    if refunded == 0 {
        failures.push("no reply failed after its charge: the refund was never exercised".to_string());
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
    for (id, _) in &user.deleted {
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

/// The store's own record: the account's balance fields, every reply stored to
/// each question (superseded versions included) against the charges for it, and
/// nothing left of a deleted chat.
async fn stored_matches(store: &dyn Store, user: &UserModel, cost: i64) -> Result<(), String> {
    let name = &user.username;
    let fail = |err: chatbot_core::store::StoreError| format!("{name}: reading the store: {err}");
    let account = store
        .user_by_username(name)
        .await
        .map_err(fail)?
        .ok_or_else(|| format!("{name}: not in the store"))?;
    if account.tokens + account.spent != user.start_tokens {
        return Err(format!(
            "{name}: the store holds tokens {} + spent {} = {}, not its start {}",
            account.tokens,
            account.spent,
            account.tokens + account.spent,
            user.start_tokens
        ));
    }
    let mut stored = 0;
    for chat in &user.chats {
        let chat_id = parse(&chat.id)?;
        for question in &chat.questions {
            let replies = store
                .replies_to(chat_id, parse(&question.id)?)
                .await
                .map_err(fail)?
                .len() as i64;
            if replies != question.replies {
                return Err(format!(
                    "{name}: message {} has {replies} replies stored, {} charged",
                    question.id, question.replies
                ));
            }
            stored += replies;
        }
    }
    let in_deleted: i64 = user.deleted.iter().map(|(_, replies)| replies).sum();
    if account.spent != cost * (stored + in_deleted) || account.requests != stored + in_deleted {
        return Err(format!(
            "{name}: the store holds spent {} over {} requests, but {stored} replies stored and {in_deleted} in deleted chats cost {}",
            account.spent,
            account.requests,
            cost * (stored + in_deleted)
        ));
    }
    // The usage records every kept charge once: over all time it is the balance's.
    let until = chrono::Utc::now() + chrono::Duration::days(1);
    let buckets = store
        .usage_of(account.id, chrono::DateTime::UNIX_EPOCH, until)
        .await
        .map_err(fail)?;
    let (charged, counted) = buckets
        .iter()
        .fold((0, 0), |(c, r), b| (c + b.tokens_charged, r + b.requests));
    if (charged, counted) != (account.spent, account.requests) {
        return Err(format!(
            "{name}: the usage counts {charged} tokens over {counted} requests, the balance {} over {}",
            account.spent, account.requests
        ));
    }
    for (id, _) in &user.deleted {
        let chat_id = parse(id)?;
        let left = store.list_messages(chat_id, Page::first(1)).await.map_err(fail)?;
        if store.chat(chat_id).await.map_err(fail)?.is_some() || !left.is_empty() {
            return Err(format!("{name}: deleted chat {id} is still in the store"));
        }
    }
    Ok(())
}

fn parse(id: &str) -> Result<Uuid, String> {
    Uuid::parse_str(id).map_err(|_| format!("not a UUID: {id:?}"))
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
/// one current reply once one was charged for it (none while every attempt
/// failed), and nothing else is stored in it.
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
        .questions
        .iter()
        .map(|q| (q.id.as_str(), q.content.as_str()))
        .collect();
    if questions != expected {
        return Err(format!(
            "{}: chat {} holds user messages {questions:?}, expected {expected:?}",
            user.username, chat.id
        ));
    }
    let mut answered = 0;
    for question in &chat.questions {
        let current = messages
            .iter()
            .filter(|m| m["role"] == "assistant" && m["reply_to"] == question.id.as_str())
            .count();
        let expected = usize::from(question.replies > 0);
        if current != expected {
            return Err(format!(
                "{}: message {} has {current} current replies, expected {expected} ({} charged)",
                user.username, question.id, question.replies
            ));
        }
        answered += expected;
    }
    if messages.len() != expected.len() + answered {
        return Err(format!(
            "{}: chat {} holds {} messages for {} questions and {answered} replies",
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
    use crate::workload::{Endings, Question};
    use serde_json::json;

    fn asked(id: &str, content: &str, replies: i64) -> Question {
        Question {
            id: id.into(),
            content: content.into(),
            replies,
        }
    }

    fn user() -> UserModel {
        UserModel {
            username: "u".into(),
            token: "t".into(),
            start_tokens: 1000,
            charged: 3,
            endings: Endings::default(),
            chats: vec![ChatModel {
                id: "c1".into(),
                questions: vec![asked("m1", "first", 1), asked("m2", "second", 2)],
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
        assert!(balance_matches(&user, &json!({"tokens": 800, "spent": 300, "requests": 3}), 100).is_err());
    }

    #[test]
    fn a_run_that_never_drained_or_refunded_is_caught() {
        let mut users = vec![user(), user()];
        assert_eq!(reached(&users).len(), 2);
        users[0].endings.refused = 1;
        assert_eq!(reached(&users).len(), 1);
        users[1].endings.refunded = 2;
        assert!(reached(&users).is_empty());
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

    #[test]
    fn a_question_whose_replies_all_failed_has_none_and_a_stray_one_is_caught() {
        let mut user = user();
        user.chats[0].questions[1].replies = 0;
        let chat = &user.chats[0];
        let kept = [question("m1", "first"), reply("r1", "m1"), question("m2", "second")];
        assert!(messages_match(&user, chat, &kept).is_ok());
        let stray = [
            question("m1", "first"),
            reply("r1", "m1"),
            question("m2", "second"),
            reply("r2", "m2"),
        ];
        assert!(
            messages_match(&user, chat, &stray).is_err(),
            "a reply stored for a refunded request"
        );
    }
}
