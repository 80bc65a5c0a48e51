//! A chat's own operations: who may see it, starting, changing, ending and
//! deleting it, listing a user's chats, and reading its messages as a tree. Each
//! takes the store's roles it uses (`Chats`, `Messages`) and answers in
//! `ChatError`.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::tree::Tree;
use super::ChatError;
use crate::store::{Chat, ChatQuery, Chats, Message, Messages, Page, Role, StoreError, User};

/// The chat `id` if `user` owns it; `NotFound` whether it is missing or someone
/// else's, so another user's chats cannot even be shown to exist.
pub async fn owned_chat(chats: &dyn Chats, user: &User, id: Uuid) -> Result<Chat, ChatError> {
    match chats.chat(id).await? {
        Some(chat) if chat.user_id == user.id => Ok(chat),
        _ => Err(ChatError::NotFound),
    }
}

/// The user's chat of that number (the id of dialects B and E); `NotFound` whether
/// it is missing or the number is only another user's.
pub async fn numbered_chat(chats: &dyn Chats, user: &User, number: i64) -> Result<Chat, ChatError> {
    chats.chat_by_number(user.id, number).await?.ok_or(ChatError::NotFound)
}

/// A new, empty chat of `user` (the dialects that create a conversation before its
/// first message): it is the user's open chat from now on.
pub async fn start_chat(
    chats: &dyn Chats,
    user: &User,
    title: Option<String>,
    now: DateTime<Utc>,
) -> Result<Chat, ChatError> {
    let chat = Chat {
        id: Uuid::now_v7(),
        user_id: user.id,
        number: chats.next_chat_number(user.id).await?,
        title,
        created_at: now,
        end_time: None,
    };
    chats.create_chat(&chat).await?;
    Ok(chat)
}

/// Ends the chat `id` of `user`, or without an id the user's open chat; the chat
/// as ended. `NotFound` when there is no such chat or it has ended already.
pub async fn end_session(
    chats: &dyn Chats,
    user: &User,
    id: Option<Uuid>,
    now: DateTime<Utc>,
) -> Result<Chat, ChatError> {
    let chat = match id {
        Some(id) => owned_chat(chats, user, id).await?,
        None => chats.open_chat(user.id).await?.ok_or(ChatError::NotFound)?,
    };
    if chat.end_time.is_some() {
        return Err(ChatError::NotFound);
    }
    let chat = Chat {
        end_time: Some(now),
        ..chat
    };
    chats.update_chat(&chat).await?;
    Ok(chat)
}

/// What a change of a chat sets; `None` leaves it as it is.
#[derive(Default)]
pub struct ChatChange {
    /// A title already checked (`1..=MAX_TITLE_CHARS` characters, trimmed).
    pub title: Option<String>,
    /// `true` ends the chat (if it is open), `false` opens it again.
    pub ended: Option<bool>,
}

/// Renames, ends or reopens `chat` (which the caller owns); the chat afterwards.
pub async fn change_chat(
    chats: &dyn Chats,
    mut chat: Chat,
    change: ChatChange,
    now: DateTime<Utc>,
) -> Result<Chat, StoreError> {
    if let Some(title) = change.title {
        chat.title = Some(title);
    }
    match change.ended {
        Some(true) if chat.end_time.is_none() => chat.end_time = Some(now),
        Some(false) => chat.end_time = None,
        _ => {}
    }
    chats.update_chat(&chat).await?;
    Ok(chat)
}

/// Deletes `chat` (which the caller owns) with its messages and share links.
pub async fn delete_chat(chats: &dyn Chats, chat: &Chat) -> Result<(), StoreError> {
    chats.delete_chat(chat.id).await
}

/// Deletes every chat of `user`; how many there were.
pub async fn delete_all_chats(chats: &dyn Chats, user: &User) -> Result<u64, StoreError> {
    chats.delete_chats_of(user.id).await
}

/// One page of `user`'s chats, newest first.
pub async fn list_chats(
    chats: &dyn Chats,
    user: &User,
    query: &ChatQuery,
    page: Page,
) -> Result<Vec<Chat>, StoreError> {
    chats.list_chats(user.id, query, page).await
}

/// Every message of `chat` (which the caller owns), as a tree.
pub async fn tree_of(messages: &dyn Messages, chat: &Chat) -> Result<Tree, StoreError> {
    Ok(Tree::new(messages.chat_messages(chat.id).await?))
}

/// The first `limit` messages of `chat`'s active branch, oldest first.
pub async fn first_messages(messages: &dyn Messages, chat: &Chat, limit: usize) -> Result<Vec<Message>, StoreError> {
    messages.list_messages(chat.id, Page::first(limit)).await
}

/// The newest `limit` messages of `chat`'s active branch, newest first.
pub async fn newest_messages(messages: &dyn Messages, chat: &Chat, limit: usize) -> Result<Vec<Message>, StoreError> {
    messages.recent_messages(chat.id, None, limit).await
}

/// How far back a regeneration looks for the question it answers again.
const QUESTION_LOOKBACK: usize = 50;

/// The newest user message of `chat`'s active branch: what a regeneration answers
/// again; none when the chat has no question yet.
pub async fn last_question(messages: &dyn Messages, chat: &Chat) -> Result<Option<Message>, StoreError> {
    Ok(newest_messages(messages, chat, QUESTION_LOOKBACK)
        .await?
        .into_iter()
        .find(|m| m.role == Role::User))
}

/// Makes the branch through the message `id` of `chat` the active one, ending at
/// the newest message under it: that leaf, or none when the chat has no such
/// message. A chat deleted meanwhile is `NotFound`; one whose branch another
/// request switched first is `BranchMoved`.
pub async fn activate_branch(
    chats: &dyn Chats,
    messages: &dyn Messages,
    chat: &Chat,
    id: Uuid,
) -> Result<Option<Uuid>, ChatError> {
    let tree = tree_of(messages, chat).await?;
    let Some(leaf) = tree.newest_descendant(id).map(|m| m.id) else {
        return Ok(None);
    };
    let switch = tree.switch_to(Some(leaf));
    if !switch.is_empty() && !messages.switch_branch(chat.id, None, &switch.on, &switch.off).await? {
        return Err(branch_moved(chats, chat).await);
    }
    Ok(Some(leaf))
}

/// A switch found the chat changed since it was read: deleted (not found), or its
/// active branch switched by another request (a conflict the client may retry).
pub async fn branch_moved(chats: &dyn Chats, chat: &Chat) -> ChatError {
    match chats.chat(chat.id).await {
        Ok(Some(_)) => ChatError::BranchMoved,
        Ok(None) => ChatError::NotFound,
        Err(err) => err.into(),
    }
}

/// The message `id` of `chat` if it is on the active branch (a superseded reply
/// version or an inactive branch's message is not current).
pub async fn current_message(messages: &dyn Messages, chat: &Chat, id: Uuid) -> Result<Option<Message>, StoreError> {
    Ok(messages.message(chat.id, id).await?.filter(|m| !m.superseded))
}

/// Replaces the text of `message`, marking it edited now; the message afterwards.
pub async fn edit_message(
    messages: &dyn Messages,
    mut message: Message,
    content: String,
    now: DateTime<Utc>,
) -> Result<Message, StoreError> {
    message.content = content;
    message.edited_at = Some(now);
    messages.update_message(&message).await?;
    Ok(message)
}

/// Every reply to the user message `question` of `chat`, each version once.
pub async fn reply_versions(
    messages: &dyn Messages,
    chat: &Chat,
    question: &Message,
) -> Result<Vec<Message>, StoreError> {
    messages.replies_to(chat.id, question.id).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::SqliteStore;
    use crate::store::Accounts;
    use async_trait::async_trait;

    /// Chats the store cannot read: every call is `Unavailable`.
    struct Unreachable;

    fn down<T>() -> Result<T, StoreError> {
        Err(StoreError::Unavailable("the test's store is down".into()))
    }

    #[async_trait]
    impl Chats for Unreachable {
        async fn next_chat_number(&self, _: Uuid) -> Result<i64, StoreError> {
            down()
        }
        async fn create_chat(&self, _: &Chat) -> Result<(), StoreError> {
            down()
        }
        async fn import_chat(&self, _: &Chat, _: &[Message]) -> Result<(), StoreError> {
            down()
        }
        async fn chat(&self, _: Uuid) -> Result<Option<Chat>, StoreError> {
            down()
        }
        async fn chat_by_number(&self, _: Uuid, _: i64) -> Result<Option<Chat>, StoreError> {
            down()
        }
        async fn open_chat(&self, _: Uuid) -> Result<Option<Chat>, StoreError> {
            down()
        }
        async fn list_chats(&self, _: Uuid, _: &ChatQuery, _: Page) -> Result<Vec<Chat>, StoreError> {
            down()
        }
        async fn update_chat(&self, _: &Chat) -> Result<(), StoreError> {
            down()
        }
        async fn delete_chat(&self, _: Uuid) -> Result<(), StoreError> {
            down()
        }
        async fn delete_chats_of(&self, _: Uuid) -> Result<u64, StoreError> {
            down()
        }
    }

    fn user(name: &str) -> User {
        User {
            id: Uuid::now_v7(),
            username: name.into(),
            email: None,
            password_hash: "x".into(),
            date_joined: Utc::now(),
            is_active: true,
            is_admin: false,
            time_zone: None,
            tokens: 0,
            spent: 0,
            requests: 0,
        }
    }

    #[tokio::test]
    async fn a_session_ends_once_and_only_its_owners() {
        let store = SqliteStore::in_memory().unwrap();
        let (alice, bob) = (user("alice"), user("bob"));
        store.create_user(&alice).await.unwrap();
        store.create_user(&bob).await.unwrap();
        let now = Utc::now();
        let chat = start_chat(&store, &alice, None, now).await.unwrap();
        let theirs = end_session(&store, &bob, Some(chat.id), now).await;
        assert!(matches!(theirs, Err(ChatError::NotFound)), "{theirs:?}");
        let ended = end_session(&store, &alice, None, now).await.unwrap();
        assert_eq!((ended.id, ended.end_time), (chat.id, Some(now)));
        for again in [Some(chat.id), None] {
            let twice = end_session(&store, &alice, again, now).await;
            assert!(matches!(twice, Err(ChatError::NotFound)), "{again:?}: {twice:?}");
        }
    }

    #[tokio::test]
    async fn a_store_that_cannot_be_read_is_not_a_missing_chat() {
        let alice = user("alice");
        for id in [Some(Uuid::now_v7()), None] {
            let err = end_session(&Unreachable, &alice, id, Utc::now()).await.unwrap_err();
            assert!(matches!(err, ChatError::Store(StoreError::Unavailable(_))), "{err:?}");
        }
    }

    #[tokio::test]
    async fn started_chats_are_numbered_and_found_by_number_only_by_their_owner() {
        let store = std::sync::Arc::new(SqliteStore::in_memory().unwrap());
        let (alice, bob) = (user("alice"), user("bob"));
        store.create_user(&alice).await.unwrap();
        store.create_user(&bob).await.unwrap();
        let now = Utc::now();
        let first = start_chat(store.as_ref(), &alice, None, now).await.unwrap();
        let second = start_chat(store.as_ref(), &alice, Some("Named".into()), now)
            .await
            .unwrap();
        assert_eq!((first.number, second.number), (1, 2));
        assert_eq!(store.open_chat(alice.id).await.unwrap().unwrap().id, second.id);
        assert_eq!(numbered_chat(store.as_ref(), &alice, 2).await.unwrap().id, second.id);
        assert!(matches!(
            numbered_chat(store.as_ref(), &bob, 2).await,
            Err(ChatError::NotFound)
        ));
        assert!(matches!(
            numbered_chat(store.as_ref(), &alice, 3).await,
            Err(ChatError::NotFound)
        ));
    }

    #[tokio::test]
    async fn the_last_question_and_a_branch_to_activate_are_read_from_the_chat() {
        let store = SqliteStore::in_memory().unwrap();
        let alice = user("alice");
        store.create_user(&alice).await.unwrap();
        let now = Utc::now();
        let chat = start_chat(&store, &alice, None, now).await.unwrap();
        assert!(last_question(&store, &chat).await.unwrap().is_none(), "no question yet");
        let mut turns = Vec::new();
        for (n, role) in [Role::User, Role::Assistant, Role::User, Role::Assistant]
            .into_iter()
            .enumerate()
        {
            let mut message = super::super::new_message(
                chat.id,
                role,
                format!("turn {n}"),
                now + chrono::Duration::seconds(n as i64),
            );
            message.parent_id = turns.last().map(|m: &Message| m.id);
            store.add_message(&message).await.unwrap();
            turns.push(message);
        }
        assert_eq!(last_question(&store, &chat).await.unwrap().unwrap().id, turns[2].id);
        let oldest = first_messages(&store, &chat, 2).await.unwrap();
        assert_eq!(
            oldest.iter().map(|m| m.id).collect::<Vec<_>>(),
            [turns[0].id, turns[1].id]
        );
        let newest = newest_messages(&store, &chat, 2).await.unwrap();
        assert_eq!(
            newest.iter().map(|m| m.id).collect::<Vec<_>>(),
            [turns[3].id, turns[2].id]
        );
        // The branch through the first question ends at the newest message under it.
        let leaf = activate_branch(&store, &store, &chat, turns[0].id).await.unwrap();
        assert_eq!(leaf, Some(turns[3].id));
        assert_eq!(
            activate_branch(&store, &store, &chat, Uuid::now_v7()).await.unwrap(),
            None
        );
    }
}
