//! The store contract: what every `Store` implementation must do, written once and
//! run against each backend by `store_contract!`.

use chatbot_core::store::{
    ApiKey, AuthToken, Chat, ChatQuery, Claim, Hold, KeptAnswer, KeyedRequest, Message, Page, PasswordChange,
    ReplyOutcome, Role, Settled, ShareLink, SharedMessage, Spent, Store, StoreError, User, UserChanges, ROOT_PARENT,
};
use chrono::{DateTime, Duration, TimeZone, Utc};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use uuid::Uuid;

pub type SharedStore = Arc<dyn Store>;

/// A fixed instant plus `minutes`, so ordering tests do not depend on the wall clock.
pub fn at(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap() + Duration::minutes(minutes)
}

pub fn user(name: &str) -> User {
    User {
        id: Uuid::now_v7(),
        username: name.to_string(),
        email: Some(format!("{name}@example.com")),
        password_hash: "$argon2id$fake".to_string(),
        date_joined: at(0),
        is_active: true,
        is_admin: false,
        time_zone: None,
        tokens: 500,
        spent: 0,
        requests: 0,
    }
}

pub async fn saved_user(store: &SharedStore, name: &str) -> User {
    let user = user(name);
    store.create_user(&user).await.unwrap();
    user
}

/// A chat to store. Its number is unique in the process (numbers need only be
/// unique per owner); the numbering itself has its own case.
pub fn chat(owner: &User, minutes: i64) -> Chat {
    static NUMBERS: AtomicI64 = AtomicI64::new(1_000);
    Chat {
        id: Uuid::now_v7(),
        user_id: owner.id,
        number: NUMBERS.fetch_add(1, Ordering::Relaxed),
        title: None,
        created_at: at(minutes),
        end_time: None,
    }
}

pub fn message(chat: &Chat, role: Role, content: &str, minutes: i64) -> Message {
    Message {
        id: Uuid::now_v7(),
        chat_id: chat.id,
        role,
        content: content.to_string(),
        created_at: at(minutes),
        edited_at: None,
        provider: None,
        model: None,
        reply_to: None,
        superseded: false,
        partial: false,
        reply_version: 0,
        parent_id: None,
    }
}

fn contents(messages: &[Message]) -> Vec<&str> {
    messages.iter().map(|m| m.content.as_str()).collect()
}

pub async fn users_are_found_by_id_name_and_email_ignoring_case(store: SharedStore) {
    let alice = saved_user(&store, "Alice").await;
    assert_eq!(store.user_by_id(alice.id).await.unwrap().unwrap(), alice);
    assert_eq!(store.user_by_username("aLiCe").await.unwrap().unwrap().id, alice.id);
    assert_eq!(
        store.user_by_email("ALICE@example.COM").await.unwrap().unwrap().id,
        alice.id
    );
    assert!(store.user_by_username("bob").await.unwrap().is_none());
    assert!(store.user_by_id(Uuid::now_v7()).await.unwrap().is_none());
}

pub async fn usernames_and_emails_are_unique_ignoring_case(store: SharedStore) {
    saved_user(&store, "alice").await;
    let mut twin = user("ALICE");
    twin.email = Some("other@example.com".into());
    assert!(matches!(
        store.create_user(&twin).await,
        Err(StoreError::Conflict { field: "username" })
    ));
    let mut same_mail = user("bob");
    same_mail.email = Some("Alice@Example.com".into());
    assert!(matches!(
        store.create_user(&same_mail).await,
        Err(StoreError::Conflict { field: "email" })
    ));
    // Nothing half-written: bob can still register with his own address.
    let bob = saved_user(&store, "bob").await;
    let mut no_mail = user("carol");
    no_mail.email = None;
    store.create_user(&no_mail).await.unwrap();
    let mut no_mail_too = user("dave");
    no_mail_too.email = None;
    store.create_user(&no_mail_too).await.unwrap();
    assert!(store.user_by_id(bob.id).await.unwrap().is_some());
}

pub async fn profile_updates_keep_email_unique(store: SharedStore) {
    let alice = saved_user(&store, "alice").await;
    saved_user(&store, "bob").await;
    let taken = UserChanges {
        email: Some(Some("BOB@example.com".into())),
        ..UserChanges::default()
    };
    assert!(matches!(
        store.update_user(alice.id, &taken).await,
        Err(StoreError::Conflict { field: "email" })
    ));
    let changes = UserChanges {
        email: Some(Some("new@example.com".into())),
        time_zone: Some(Some("Europe/Paris".into())),
        is_active: Some(false),
        ..UserChanges::default()
    };
    store.update_user(alice.id, &changes).await.unwrap();
    let saved = store.user_by_email("new@example.com").await.unwrap().unwrap();
    assert_eq!(saved.time_zone.as_deref(), Some("Europe/Paris"));
    assert!(!saved.is_active);
    assert!(
        store.user_by_email("alice@example.com").await.unwrap().is_none(),
        "the old address is released"
    );
    let cleared = UserChanges {
        email: Some(None),
        ..UserChanges::default()
    };
    store.update_user(alice.id, &cleared).await.unwrap();
    assert_eq!(store.user_by_id(alice.id).await.unwrap().unwrap().email, None);
    assert!(store.user_by_email("new@example.com").await.unwrap().is_none());
}

pub async fn updates_change_only_the_fields_they_name(store: SharedStore) {
    let alice = saved_user(&store, "alice").await;
    let deactivate = UserChanges {
        is_active: Some(false),
        ..UserChanges::default()
    };
    store.update_user(alice.id, &deactivate).await.unwrap();
    // A profile edit made from a copy read before the deactivation.
    let zone = UserChanges {
        time_zone: Some(Some("Asia/Tokyo".into())),
        ..UserChanges::default()
    };
    store.update_user(alice.id, &zone).await.unwrap();
    let saved = store.user_by_id(alice.id).await.unwrap().unwrap();
    assert!(!saved.is_active, "the deactivation stands");
    assert_eq!(saved.time_zone.as_deref(), Some("Asia/Tokyo"));
    assert_eq!(saved.password_hash, alice.password_hash);
    assert_eq!(saved.email, alice.email);
    store.update_user(alice.id, &UserChanges::default()).await.unwrap();
    assert_eq!(
        store.user_by_id(alice.id).await.unwrap().unwrap(),
        saved,
        "no change, no write"
    );
    store.update_user(Uuid::now_v7(), &zone).await.unwrap();
}

pub async fn a_password_change_applies_only_over_the_hash_it_replaces(store: SharedStore) {
    let alice = saved_user(&store, "alice").await;
    let change = |from: &str, to: &str| UserChanges {
        password: Some(PasswordChange {
            from: from.into(),
            to: to.into(),
        }),
        time_zone: Some(Some("Europe/Paris".into())),
        ..UserChanges::default()
    };
    store
        .update_user(alice.id, &change(&alice.password_hash, "$argon2id$second"))
        .await
        .unwrap();
    // A second change checked against the first hash loses, and saves nothing.
    assert!(matches!(
        store
            .update_user(alice.id, &change(&alice.password_hash, "$argon2id$third"))
            .await,
        Err(StoreError::Conflict { field: "password" })
    ));
    let saved = store.user_by_id(alice.id).await.unwrap().unwrap();
    assert_eq!(saved.password_hash, "$argon2id$second");
    store
        .update_user(alice.id, &change("$argon2id$second", "$argon2id$third"))
        .await
        .unwrap();
    assert_eq!(
        store.user_by_id(alice.id).await.unwrap().unwrap().password_hash,
        "$argon2id$third"
    );
}

/// The admin role (API.md: a role stored on the account): new accounts lack it,
/// it changes only through its own field, the token's lookup carries it, and it
/// belongs to the account, not to the name.
pub async fn the_admin_role_is_stored_changed_alone_and_listed(store: SharedStore) {
    let alice = saved_user(&store, "alice").await;
    let bob = saved_user(&store, "Bob").await;
    assert!(!store.user_by_id(alice.id).await.unwrap().unwrap().is_admin);
    assert!(store.admins().await.unwrap().is_empty());
    let role = |admin: bool| UserChanges {
        is_admin: Some(admin),
        ..UserChanges::default()
    };
    store.update_user(alice.id, &role(true)).await.unwrap();
    store.update_user(bob.id, &role(true)).await.unwrap();
    // Other edits leave the role alone, and the role leaves them alone.
    let edit = UserChanges {
        time_zone: Some(Some("Asia/Tokyo".into())),
        is_active: Some(false),
        ..UserChanges::default()
    };
    store.update_user(alice.id, &edit).await.unwrap();
    let saved = store.user_by_id(alice.id).await.unwrap().unwrap();
    assert!(saved.is_admin && !saved.is_active);
    assert_eq!(saved.time_zone.as_deref(), Some("Asia/Tokyo"));
    store
        .insert_token(&AuthToken {
            digest: "admin-token".into(),
            user_id: bob.id,
            created_at: at(0),
            expires_at: at(60),
        })
        .await
        .unwrap();
    assert!(
        store
            .user_by_token("admin-token", at(1))
            .await
            .unwrap()
            .unwrap()
            .is_admin
    );
    let names = |users: Vec<User>| users.into_iter().map(|u| u.username).collect::<Vec<_>>();
    assert_eq!(
        names(store.admins().await.unwrap()),
        ["alice", "Bob"],
        "by username, ignoring case"
    );
    store.update_user(alice.id, &role(false)).await.unwrap();
    let revoked = store.user_by_id(alice.id).await.unwrap().unwrap();
    assert!(!revoked.is_admin);
    assert_eq!(
        revoked.time_zone.as_deref(),
        Some("Asia/Tokyo"),
        "a revoke changes nothing else"
    );
    assert_eq!(names(store.admins().await.unwrap()), ["Bob"]);
    // A deleted admin's name is free, and whoever takes it is no admin.
    store.delete_user(bob.id).await.unwrap();
    let newcomer = saved_user(&store, "bob").await;
    assert!(!store.user_by_id(newcomer.id).await.unwrap().unwrap().is_admin);
    assert!(store.admins().await.unwrap().is_empty());
}

pub async fn tokens_resolve_until_they_expire_or_are_revoked(store: SharedStore) {
    let alice = saved_user(&store, "alice").await;
    let token = |digest: &str, expires: i64| AuthToken {
        digest: digest.into(),
        user_id: alice.id,
        created_at: at(0),
        expires_at: at(expires),
    };
    store.insert_token(&token("d1", 60)).await.unwrap();
    store.insert_token(&token("d2", 60)).await.unwrap();
    store.insert_token(&token("d3", 60)).await.unwrap();
    assert_eq!(store.user_by_token("d1", at(59)).await.unwrap().unwrap().id, alice.id);
    assert!(
        store.user_by_token("d1", at(60)).await.unwrap().is_none(),
        "expired at its expiry instant"
    );
    assert!(store.user_by_token("nope", at(1)).await.unwrap().is_none());
    store.delete_token("d1").await.unwrap();
    assert!(store.user_by_token("d1", at(1)).await.unwrap().is_none());
    store.delete_tokens_of(alice.id, Some("d3")).await.unwrap();
    assert!(store.user_by_token("d2", at(1)).await.unwrap().is_none());
    assert!(
        store.user_by_token("d3", at(1)).await.unwrap().is_some(),
        "the kept token survives"
    );
    store.delete_tokens_of(alice.id, None).await.unwrap();
    assert!(store.user_by_token("d3", at(1)).await.unwrap().is_none());
}

/// A hold of `cost` on the user's balance, stale from minute `stale_minute` of `at`.
pub fn hold(owner: &User, cost: i64, stale_minute: i64) -> Hold {
    Hold {
        id: Uuid::now_v7(),
        user_id: owner.id,
        cost,
        created_at: at(0),
        stale_at: at(stale_minute),
    }
}

/// What a kept charge bought: `model` (of provider `p`), at minute `minute` of `at`,
/// 3 prompt and 5 completion tokens, no key.
pub fn spent(model: &str, minute: i64) -> Spent {
    Spent {
        at: at(minute),
        provider: "p".into(),
        model: model.into(),
        key_id: None,
        prompt_tokens: 3,
        completion_tokens: 5,
    }
}

pub async fn usage_counts_what_kept_charges_bought_by_hour_model_and_key(store: SharedStore) {
    let (alice, bob) = (saved_user(&store, "alice").await, saved_user(&store, "bob").await);
    let key = Uuid::now_v7();
    let settled = |cost: i64, spent: Spent, owner: &User| {
        let store = store.clone();
        let hold = hold(owner, cost, 100);
        async move {
            assert!(store.charge(&hold).await.unwrap());
            assert_eq!(store.settle(&hold, &spent).await.unwrap(), Settled::Now);
            // Ended once: a second settle counts nothing more.
            assert_eq!(store.settle(&hold, &spent).await.unwrap(), Settled::Before);
        }
    };
    settled(100, spent("small", 1), &alice).await;
    settled(100, spent("small", 59), &alice).await;
    settled(
        40,
        Spent {
            key_id: Some(key),
            ..spent("small", 30)
        },
        &alice,
    )
    .await;
    settled(100, spent("base", 61), &alice).await;
    settled(100, spent("small", 1), &bob).await;
    // A refunded charge counts nothing.
    let refunded = hold(&alice, 100, 100);
    assert!(store.charge(&refunded).await.unwrap());
    store.refund(&refunded).await.unwrap();
    let buckets = store.usage_of(alice.id, at(0), at(120)).await.unwrap();
    let summary: Vec<_> = buckets
        .iter()
        .map(|b| {
            (
                b.hour,
                b.model.as_str(),
                b.key_id,
                b.requests,
                b.tokens_charged,
                b.prompt_tokens,
                b.completion_tokens,
            )
        })
        .collect();
    let mut summary = summary;
    summary.sort_by_key(|row| (row.0, row.1, row.2));
    assert_eq!(
        summary,
        [
            (at(0), "small", None, 2, 200, 6, 10),
            (at(0), "small", Some(key), 1, 40, 3, 5),
            (at(60), "base", None, 1, 100, 3, 5),
        ]
    );
    assert!(buckets.iter().all(|b| b.user_id == alice.id && b.provider == "p"));
    // The usage adds up to the balance's spent.
    let charged: i64 = buckets.iter().map(|b| b.tokens_charged).sum();
    assert_eq!(charged, store.user_by_id(alice.id).await.unwrap().unwrap().spent);
    // Hours are [from, to).
    assert_eq!(store.usage_of(alice.id, at(0), at(60)).await.unwrap().len(), 2);
    assert_eq!(store.usage_of(alice.id, at(60), at(61)).await.unwrap().len(), 1);
    assert!(store.usage_of(alice.id, at(120), at(180)).await.unwrap().is_empty());
    let everyone = store.usage_of_everyone(at(0), at(60)).await.unwrap();
    let mut users: Vec<Uuid> = everyone.iter().map(|b| b.user_id).collect();
    users.dedup();
    assert_eq!(everyone.len(), 3);
    assert!(users.contains(&bob.id) && users.contains(&alice.id));
    // A stored reply counts as well.
    let chat = chat(&alice, 0);
    store.create_chat(&chat).await.unwrap();
    let question = message(&chat, Role::User, "q", 0);
    store.add_message(&question).await.unwrap();
    let paid = hold(&alice, 100, 100);
    assert!(store.charge(&paid).await.unwrap());
    let answer = Message {
        reply_to: Some(question.id),
        ..message(&chat, Role::Assistant, "a", 1)
    };
    let outcome = store
        .add_reply(&answer, &question, &[], &[], &paid, &spent("base", 62))
        .await
        .unwrap();
    assert_eq!(outcome, ReplyOutcome::Stored);
    let base = store.usage_of(alice.id, at(60), at(120)).await.unwrap();
    assert_eq!((base.len(), base[0].requests, base[0].tokens_charged), (1, 2, 200));
    // Usage goes with the account.
    store.delete_user(alice.id).await.unwrap();
    assert!(store.usage_of(alice.id, at(0), at(120)).await.unwrap().is_empty());
}

async fn balance_of(store: &SharedStore, user: &User) -> (i64, i64, i64) {
    let after = store.user_by_id(user.id).await.unwrap().unwrap();
    (after.tokens, after.spent, after.requests)
}

pub async fn charges_take_from_the_balance_and_never_overdraw(store: SharedStore) {
    let alice = saved_user(&store, "alice").await; // 500 tokens
    let (first, second, third) = (hold(&alice, 200, 10), hold(&alice, 200, 10), hold(&alice, 200, 10));
    assert!(store.charge(&first).await.unwrap());
    assert!(store.charge(&second).await.unwrap());
    assert!(!store.charge(&third).await.unwrap(), "short: nothing taken");
    assert_eq!(balance_of(&store, &alice).await, (100, 400, 2));
    // A charge asked again after it landed (a retry whose first answer was lost)
    // is taken, once.
    assert!(store.charge(&second).await.unwrap());
    assert_eq!(balance_of(&store, &alice).await, (100, 400, 2));
    assert_eq!(store.refund(&second).await.unwrap(), Settled::Now);
    assert_eq!(balance_of(&store, &alice).await, (300, 200, 1));
    // A hold is refunded once, however often it is asked; a refused charge left none.
    assert_eq!(store.refund(&second).await.unwrap(), Settled::Before);
    assert_eq!(store.refund(&third).await.unwrap(), Settled::Before);
    assert_eq!(balance_of(&store, &alice).await, (300, 200, 1));
    // Settled, a hold keeps its charge, and no refund can take it back after.
    assert_eq!(store.settle(&first, &spent("m", 0)).await.unwrap(), Settled::Now);
    assert_eq!(store.settle(&first, &spent("m", 0)).await.unwrap(), Settled::Before);
    assert_eq!(store.refund(&first).await.unwrap(), Settled::Before);
    assert_eq!(balance_of(&store, &alice).await, (300, 200, 1));
    // A missing account cannot be charged, and nothing is created for it.
    let ghost = user("ghost");
    assert!(!store.charge(&hold(&ghost, 1, 10)).await.unwrap());
    assert!(store.user_by_id(ghost.id).await.unwrap().is_none());
}

pub async fn stale_holds_are_listed_per_user_until_they_end(store: SharedStore) {
    let (alice, bob) = (saved_user(&store, "alice").await, saved_user(&store, "bob").await);
    let (early, late, fresh) = (hold(&alice, 100, 5), hold(&alice, 100, 7), hold(&alice, 100, 60));
    for h in [&late, &fresh, &early, &hold(&bob, 100, 5)] {
        assert!(store.charge(h).await.unwrap());
    }
    let ids = |holds: Vec<Hold>| holds.into_iter().map(|h| h.id).collect::<Vec<_>>();
    assert_eq!(
        ids(store.stale_holds(alice.id, at(10), 10).await.unwrap()),
        [early.id, late.id]
    );
    assert_eq!(ids(store.stale_holds(alice.id, at(10), 1).await.unwrap()), [early.id]);
    assert_eq!(
        store.stale_holds(alice.id, at(10), 10).await.unwrap()[0],
        early,
        "read back whole"
    );
    assert!(store.stale_holds(alice.id, at(4), 10).await.unwrap().is_empty());
    assert_eq!(store.refund(&early).await.unwrap(), Settled::Now);
    assert_eq!(ids(store.stale_holds(alice.id, at(10), 10).await.unwrap()), [late.id]);
    assert_eq!(balance_of(&store, &alice).await, (300, 200, 2));
    // A user deleted with holds open takes them along; a late refund creates nothing.
    store.delete_user(alice.id).await.unwrap();
    assert!(store.stale_holds(alice.id, at(100), 10).await.unwrap().is_empty());
    assert_eq!(store.refund(&fresh).await.unwrap(), Settled::Before);
    assert!(store.user_by_id(alice.id).await.unwrap().is_none());
}

pub async fn concurrent_charges_succeed_exactly_as_often_as_the_balance_allows(store: SharedStore) {
    let alice = saved_user(&store, "alice").await; // 500 tokens: five charges of 100
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let store = store.clone();
            let hold = hold(&alice, 100, 10);
            tokio::spawn(async move { store.charge(&hold).await.unwrap() })
        })
        .collect();
    let mut successes = 0;
    for task in tasks {
        if task.await.unwrap() {
            successes += 1;
        }
    }
    assert_eq!(successes, 5);
    assert_eq!(balance_of(&store, &alice).await, (0, 500, 5));
    assert_eq!(store.stale_holds(alice.id, at(10), 100).await.unwrap().len(), 5);
}

fn api_key(owner: &User, name: &str, minute: i64) -> ApiKey {
    ApiKey {
        id: Uuid::now_v7(),
        user_id: owner.id,
        name: name.to_string(),
        digest: format!("digest of {name} {}", Uuid::now_v7()),
        created_at: at(minute),
        last_used_at: None,
        requests: 0,
    }
}

pub async fn api_keys_authenticate_count_their_use_and_are_revoked(store: SharedStore) {
    let (alice, bob) = (saved_user(&store, "alice").await, saved_user(&store, "bob").await);
    let (first, second, theirs) = (
        api_key(&alice, "laptop", 1),
        api_key(&alice, "ci", 2),
        api_key(&bob, "b", 1),
    );
    for key in [&second, &first, &theirs] {
        store.create_api_key(key).await.unwrap();
    }
    assert_eq!(
        store.api_keys_of(alice.id).await.unwrap(),
        [first.clone(), second.clone()]
    );
    let (user, id) = store.use_api_key(&first.digest, at(5)).await.unwrap().unwrap();
    assert_eq!((user.id, id), (alice.id, first.id));
    store.use_api_key(&first.digest, at(6)).await.unwrap().unwrap();
    let listed = store.api_keys_of(alice.id).await.unwrap();
    assert_eq!((listed[0].requests, listed[0].last_used_at), (2, Some(at(6))));
    assert_eq!((listed[1].requests, listed[1].last_used_at), (0, None));
    assert!(store.use_api_key("no such digest", at(6)).await.unwrap().is_none());
    // Revoked at once, and only by its owner.
    assert!(!store.delete_api_key(bob.id, first.id).await.unwrap());
    assert!(store.delete_api_key(alice.id, first.id).await.unwrap());
    assert!(!store.delete_api_key(alice.id, first.id).await.unwrap());
    assert!(store.use_api_key(&first.digest, at(7)).await.unwrap().is_none());
    assert_eq!(
        store.api_keys_of(alice.id).await.unwrap(),
        std::slice::from_ref(&second)
    );
    // All of a user's at once (deactivation); another user's stay.
    store.delete_api_keys_of(alice.id).await.unwrap();
    assert!(store.use_api_key(&second.digest, at(8)).await.unwrap().is_none());
    assert!(store.api_keys_of(alice.id).await.unwrap().is_empty());
    assert!(store.use_api_key(&theirs.digest, at(8)).await.unwrap().is_some());
    // And with the account.
    store.delete_user(bob.id).await.unwrap();
    assert!(store.use_api_key(&theirs.digest, at(9)).await.unwrap().is_none());
}

fn share_link(chat: &Chat, minute: i64) -> ShareLink {
    ShareLink {
        share_id: format!("share-{}", Uuid::new_v4().simple()),
        id: Uuid::now_v7(),
        user_id: chat.user_id,
        chat_id: chat.id,
        title: Some(format!("chat {}", chat.number)),
        created_at: at(minute),
    }
}

fn shared_message(role: &str, content: &str, minute: i64) -> SharedMessage {
    SharedMessage {
        role: role.into(),
        content: content.into(),
        created_at: at(minute),
    }
}

pub async fn share_links_keep_their_snapshot_list_newest_first_and_are_revoked(store: SharedStore) {
    let (alice, bob) = (saved_user(&store, "alice").await, saved_user(&store, "bob").await);
    let (one, two, bobs) = (chat(&alice, 0), chat(&alice, 1), chat(&bob, 2));
    for c in [&one, &two, &bobs] {
        store.create_chat(c).await.unwrap();
    }
    let snapshot = vec![
        shared_message("user", "hi \"there\" ✓", 1),
        shared_message("assistant", "hello\n<b>", 2),
    ];
    let links: Vec<ShareLink> = (0..5)
        .map(|i| share_link(if i % 2 == 0 { &one } else { &two }, i))
        .collect();
    for link in &links {
        assert!(store.create_share(link, &snapshot).await.unwrap());
    }
    let theirs = share_link(&bobs, 3);
    assert!(store.create_share(&theirs, &[]).await.unwrap());
    // Anyone reads a link by its id; the snapshot comes back as stored.
    let (found, messages) = store.shared(&links[1].share_id).await.unwrap().unwrap();
    assert_eq!((found, messages), (links[1].clone(), snapshot.clone()));
    assert_eq!(store.shared(&theirs.share_id).await.unwrap().unwrap().1, []);
    assert!(store.shared("no-such-share").await.unwrap().is_none());
    // Listed newest first, page by page, each user only their own.
    let newest_first: Vec<ShareLink> = links.iter().rev().cloned().collect();
    assert_eq!(store.shares_of(alice.id, Page::first(10)).await.unwrap(), newest_first);
    let first = store.shares_of(alice.id, Page::first(2)).await.unwrap();
    assert_eq!(first, newest_first[..2]);
    let after = Page {
        limit: 10,
        after: Some(first[1].id),
    };
    assert_eq!(store.shares_of(alice.id, after).await.unwrap(), newest_first[2..]);
    assert_eq!(
        store.shares_of(bob.id, Page::first(10)).await.unwrap(),
        std::slice::from_ref(&theirs)
    );
    // Revoked by its owner only, at once.
    assert!(!store.delete_share(bob.id, &links[0].share_id).await.unwrap());
    assert!(store.delete_share(alice.id, &links[0].share_id).await.unwrap());
    assert!(!store.delete_share(alice.id, &links[0].share_id).await.unwrap());
    assert!(store.shared(&links[0].share_id).await.unwrap().is_none());
    assert_eq!(store.shares_of(alice.id, Page::first(10)).await.unwrap().len(), 4);
    // A deleted chat takes its links; its messages' snapshot cannot be shared again.
    store.delete_chat(two.id).await.unwrap();
    for gone in [&links[1], &links[3]] {
        assert!(store.shared(&gone.share_id).await.unwrap().is_none());
    }
    assert_eq!(
        store.shares_of(alice.id, Page::first(10)).await.unwrap(),
        [links[4].clone(), links[2].clone()]
    );
    assert!(!store.create_share(&share_link(&two, 9), &snapshot).await.unwrap());
    // All chats, and the account, take theirs.
    assert_eq!(store.delete_chats_of(alice.id).await.unwrap(), 1);
    assert!(store.shared(&links[2].share_id).await.unwrap().is_none());
    assert!(store.shares_of(alice.id, Page::first(10)).await.unwrap().is_empty());
    store.delete_user(bob.id).await.unwrap();
    assert!(store.shared(&theirs.share_id).await.unwrap().is_none());
}

/// A claim of `owner`'s key `key` for the request `request`, made at minute
/// `minute` of `at`, running for 15 minutes and kept a day.
pub fn keyed(owner: &User, key: &str, request: &str, minute: i64) -> KeyedRequest {
    KeyedRequest {
        user_id: owner.id,
        key_digest: key.to_string(),
        request_digest: request.to_string(),
        claim: Uuid::now_v7(),
        created_at: at(minute),
        running_until: at(minute + 15),
        expires_at: at(minute + 24 * 60),
        answer: None,
    }
}

fn answer(body: &str) -> KeptAnswer {
    KeptAnswer {
        status: 201,
        content_type: Some("application/json".into()),
        body: body.to_string(),
    }
}

pub async fn idempotency_keys_are_held_answered_released_and_expire(store: SharedStore) {
    let (alice, bob) = (saved_user(&store, "alice").await, saved_user(&store, "bob").await);
    let first = keyed(&alice, "k1", "send hi", 0);
    assert_eq!(store.claim_key(&first, at(0)).await.unwrap(), Claim::Taken);
    // Running: a retry finds the claim, without an answer.
    let retry = keyed(&alice, "k1", "send hi", 1);
    assert_eq!(
        store.claim_key(&retry, at(1)).await.unwrap(),
        Claim::Held(first.clone())
    );
    // Another user's key of the same digest is another key.
    assert_eq!(
        store.claim_key(&keyed(&bob, "k1", "send hi", 1), at(1)).await.unwrap(),
        Claim::Taken
    );
    // Only the claim that took the key ends it.
    store.finish_key(&retry, &answer("not the first")).await.unwrap();
    store.release_key(&retry).await.unwrap();
    assert_eq!(
        store.claim_key(&retry, at(2)).await.unwrap(),
        Claim::Held(first.clone())
    );
    store.finish_key(&first, &answer(r#"{"id":1}"#)).await.unwrap();
    let answered = KeyedRequest {
        answer: Some(answer(r#"{"id":1}"#)),
        ..first.clone()
    };
    assert_eq!(
        store.claim_key(&retry, at(3)).await.unwrap(),
        Claim::Held(answered.clone())
    );
    // An answered key holds for another request too (the caller tells them apart),
    // even once its running time is over…
    let other = keyed(&alice, "k1", "send bye", 30);
    assert_eq!(store.claim_key(&other, at(30)).await.unwrap(), Claim::Held(answered));
    // …until it expires: then anything may take it.
    let next_day = keyed(&alice, "k1", "send bye", 24 * 60);
    assert_eq!(store.claim_key(&next_day, at(24 * 60)).await.unwrap(), Claim::Taken);
    // A released key is free at once.
    store.release_key(&next_day).await.unwrap();
    let again = keyed(&alice, "k1", "send hi", 24 * 60 + 1);
    assert_eq!(store.claim_key(&again, at(24 * 60 + 1)).await.unwrap(), Claim::Taken);
    // Keys go with their user.
    store.delete_user(alice.id).await.unwrap();
    let alice_again = User {
        id: alice.id,
        ..user("alice2")
    };
    store.create_user(&alice_again).await.unwrap();
    assert_eq!(
        store
            .claim_key(&keyed(&alice_again, "k1", "other", 24 * 60 + 2), at(24 * 60 + 2))
            .await
            .unwrap(),
        Claim::Taken
    );
}

pub async fn an_abandoned_claim_is_taken_over_by_the_same_request_only(store: SharedStore) {
    let alice = saved_user(&store, "alice").await;
    let crashed = keyed(&alice, "k", "send hi", 0); // running until minute 15
    assert_eq!(store.claim_key(&crashed, at(0)).await.unwrap(), Claim::Taken);
    let other = keyed(&alice, "k", "send bye", 20);
    assert_eq!(
        store.claim_key(&other, at(20)).await.unwrap(),
        Claim::Held(crashed.clone())
    );
    let retry = keyed(&alice, "k", "send hi", 20);
    assert_eq!(store.claim_key(&retry, at(20)).await.unwrap(), Claim::Taken);
    // The first request, should it still finish, no longer owns the key.
    store.finish_key(&crashed, &answer("late")).await.unwrap();
    store.release_key(&crashed).await.unwrap();
    store.finish_key(&retry, &answer("retried")).await.unwrap();
    let held = store
        .claim_key(&keyed(&alice, "k", "send hi", 21), at(21))
        .await
        .unwrap();
    let Claim::Held(held) = held else {
        panic!("the retry holds the key")
    };
    assert_eq!((held.claim, held.answer), (retry.claim, Some(answer("retried"))));
}

pub async fn concurrent_claims_of_one_key_give_it_to_one(store: SharedStore) {
    let alice = saved_user(&store, "alice").await;
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let store = store.clone();
            let request = keyed(&alice, "k", "send hi", 0);
            tokio::spawn(async move { store.claim_key(&request, at(0)).await.unwrap() })
        })
        .collect();
    let mut taken = 0;
    for task in tasks {
        if task.await.unwrap() == Claim::Taken {
            taken += 1;
        }
    }
    assert_eq!(taken, 1);
}

pub async fn rate_limit_counters_count_per_key(store: SharedStore) {
    let later = Utc::now() + Duration::minutes(5);
    assert_eq!(store.count_hit("user:a:1", later).await.unwrap(), 1);
    assert_eq!(store.count_hit("user:a:1", later).await.unwrap(), 2);
    assert_eq!(store.count_hit("user:b:1", later).await.unwrap(), 1);
    assert_eq!(store.count_hit("user:a:2", later).await.unwrap(), 1);
}

pub async fn chats_are_created_once_per_id(store: SharedStore) {
    let alice = saved_user(&store, "alice").await;
    let bob = saved_user(&store, "bob").await;
    let first = chat(&alice, 0);
    store.create_chat(&first).await.unwrap();
    assert_eq!(store.chat(first.id).await.unwrap().unwrap(), first);
    let mut stolen = chat(&bob, 1);
    stolen.id = first.id;
    assert!(matches!(
        store.create_chat(&stolen).await,
        Err(StoreError::Conflict { field: "chat_id" })
    ));
    assert_eq!(
        store.chat(first.id).await.unwrap().unwrap().user_id,
        alice.id,
        "the owner is unchanged"
    );
}

pub async fn chat_numbers_count_up_per_user_and_are_never_reused(store: SharedStore) {
    let alice = saved_user(&store, "alice").await;
    let bob = saved_user(&store, "bob").await;
    let mut numbered = Vec::new();
    for minutes in 0..3 {
        let mut c = chat(&alice, minutes);
        c.number = store.next_chat_number(alice.id).await.unwrap();
        store.create_chat(&c).await.unwrap();
        numbered.push(c);
    }
    assert_eq!(numbered.iter().map(|c| c.number).collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(
        store.next_chat_number(bob.id).await.unwrap(),
        1,
        "each account counts alone"
    );
    let second = store.chat_by_number(alice.id, 2).await.unwrap().unwrap();
    assert_eq!(second, numbered[1]);
    assert_eq!(store.chat(second.id).await.unwrap().unwrap().number, 2);
    assert!(
        store.chat_by_number(bob.id, 2).await.unwrap().is_none(),
        "another's number is nobody's"
    );
    assert!(store.chat_by_number(alice.id, 99).await.unwrap().is_none());
    let mut twin = chat(&alice, 9);
    twin.number = 2;
    assert!(matches!(
        store.create_chat(&twin).await,
        Err(StoreError::Conflict { field: "number" })
    ));
    assert!(
        store.chat(twin.id).await.unwrap().is_none(),
        "nothing of the twin is kept"
    );
    store.delete_chat(numbered[2].id).await.unwrap();
    assert!(store.chat_by_number(alice.id, 3).await.unwrap().is_none());
    assert_eq!(
        store.next_chat_number(alice.id).await.unwrap(),
        4,
        "a deleted number is not reused"
    );
    assert_eq!(store.delete_chats_of(alice.id).await.unwrap(), 2);
    assert!(store.chat_by_number(alice.id, 1).await.unwrap().is_none());
    assert_eq!(store.next_chat_number(alice.id).await.unwrap(), 5);
    // The number of a deleted chat can be claimed again only through the counter,
    // which never goes back; a chat created with it directly is allowed again.
    let mut again = chat(&alice, 20);
    again.number = 1;
    store.create_chat(&again).await.unwrap();
    assert_eq!(store.chat_by_number(alice.id, 1).await.unwrap().unwrap().id, again.id);
}

pub async fn a_message_to_a_deleted_chat_is_refused(store: SharedStore) {
    let alice = saved_user(&store, "alice").await;
    let gone = chat(&alice, 0);
    store.create_chat(&gone).await.unwrap();
    store
        .add_message(&message(&gone, Role::User, "hello", 1))
        .await
        .unwrap();
    store.delete_chat(gone.id).await.unwrap();
    let late = message(&gone, Role::Assistant, "a late reply", 2);
    assert!(store.add_message(&late).await.is_err(), "no orphan message");
    assert!(store.message(gone.id, late.id).await.unwrap().is_none());
    let never = chat(&alice, 3);
    assert!(store.add_message(&message(&never, Role::User, "x", 4)).await.is_err());
}

/// A chat created later with a deleted chat's id (dialect D's clients choose ids)
/// sees none of the deleted chat's messages, and neither does anyone else.
pub async fn a_deleted_chat_leaves_nothing_for_a_chat_with_its_id(store: SharedStore) {
    let alice = saved_user(&store, "alice").await;
    let gone = chat(&alice, 0);
    store.create_chat(&gone).await.unwrap();
    for minute in 1..=30 {
        store
            .add_message(&message(&gone, Role::User, "secret", minute))
            .await
            .unwrap();
    }
    store.delete_chat(gone.id).await.unwrap();
    // Deleting it again is no error.
    store.delete_chat(gone.id).await.unwrap();
    let bob = saved_user(&store, "bob").await;
    let mut again = chat(&bob, 40);
    again.id = gone.id;
    store.create_chat(&again).await.unwrap();
    assert!(store
        .list_messages(again.id, Page::first(100))
        .await
        .unwrap()
        .is_empty());
    store
        .add_message(&message(&again, Role::User, "mine", 41))
        .await
        .unwrap();
    let messages = store.list_messages(again.id, Page::first(100)).await.unwrap();
    assert_eq!(
        messages.iter().map(|m| m.content.as_str()).collect::<Vec<_>>(),
        ["mine"]
    );
}

pub async fn concurrent_chat_numbers_are_all_different(store: SharedStore) {
    let alice = saved_user(&store, "alice").await;
    let tasks: Vec<_> = (0..12)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.next_chat_number(alice.id).await.unwrap() })
        })
        .collect();
    let mut numbers = Vec::new();
    for task in tasks {
        numbers.push(task.await.unwrap());
    }
    numbers.sort();
    assert_eq!(numbers, (1..=12).collect::<Vec<i64>>());
}

pub async fn the_open_chat_is_the_newest_without_an_end(store: SharedStore) {
    let alice = saved_user(&store, "alice").await;
    assert!(store.open_chat(alice.id).await.unwrap().is_none());
    let old = chat(&alice, 0);
    let mut newer = chat(&alice, 5);
    let mut ended = chat(&alice, 10);
    ended.end_time = Some(at(11));
    for c in [&old, &newer, &ended] {
        store.create_chat(c).await.unwrap();
    }
    assert_eq!(store.open_chat(alice.id).await.unwrap().unwrap().id, newer.id);
    newer.end_time = Some(at(12));
    newer.title = Some("Renamed".into());
    store.update_chat(&newer).await.unwrap();
    assert_eq!(
        store.chat(newer.id).await.unwrap().unwrap().title.as_deref(),
        Some("Renamed")
    );
    assert_eq!(store.open_chat(alice.id).await.unwrap().unwrap().id, old.id);
}

pub async fn chat_lists_are_newest_first_and_paginate(store: SharedStore) {
    let alice = saved_user(&store, "alice").await;
    let bob = saved_user(&store, "bob").await;
    let mut ids = Vec::new();
    for minute in 0..5 {
        let c = chat(&alice, minute);
        store.create_chat(&c).await.unwrap();
        ids.push(c.id);
    }
    store.create_chat(&chat(&bob, 3)).await.unwrap();
    ids.reverse();
    let query = ChatQuery::default();
    let first = store.list_chats(alice.id, &query, Page::first(2)).await.unwrap();
    assert_eq!(first.iter().map(|c| c.id).collect::<Vec<_>>(), ids[..2]);
    let second = store
        .list_chats(
            alice.id,
            &query,
            Page {
                limit: 2,
                after: Some(ids[1]),
            },
        )
        .await
        .unwrap();
    assert_eq!(second.iter().map(|c| c.id).collect::<Vec<_>>(), ids[2..4]);
    let last = store
        .list_chats(
            alice.id,
            &query,
            Page {
                limit: 2,
                after: Some(ids[4]),
            },
        )
        .await
        .unwrap();
    assert!(last.is_empty());
    let all = store.list_chats(alice.id, &query, Page::first(100)).await.unwrap();
    assert_eq!(all.len(), 5, "bob's chat is not listed");
    // A cursor naming another user's chat places nothing: the page is empty.
    let bobs = store.list_chats(bob.id, &query, Page::first(1)).await.unwrap()[0].id;
    let foreign = Page {
        limit: 10,
        after: Some(bobs),
    };
    assert!(store.list_chats(alice.id, &query, foreign).await.unwrap().is_empty());
}

pub async fn chat_lists_filter_by_session_period_and_search(store: SharedStore) {
    let alice = saved_user(&store, "alice").await;
    let mut titled = chat(&alice, 0);
    titled.title = Some("Baking Bread".into());
    let talked = chat(&alice, 60);
    let percent = chat(&alice, 120);
    for c in [&titled, &talked, &percent] {
        store.create_chat(c).await.unwrap();
    }
    store
        .add_message(&message(&talked, Role::User, "how do I knead DOUGH?", 61))
        .await
        .unwrap();
    store
        .add_message(&message(&percent, Role::User, "a 50% discount", 121))
        .await
        .unwrap();
    let find = |query: ChatQuery| {
        let store = store.clone();
        async move {
            store
                .list_chats(alice.id, &query, Page::first(100))
                .await
                .unwrap()
                .iter()
                .map(|c| c.id)
                .collect::<Vec<_>>()
        }
    };
    let search = |term: &str| ChatQuery {
        search: Some(term.into()),
        ..ChatQuery::default()
    };
    assert_eq!(find(search("bread")).await, vec![titled.id]);
    assert_eq!(find(search("dough")).await, vec![talked.id]);
    assert_eq!(find(search("50%")).await, vec![percent.id]);
    assert_eq!(find(search("5_%")).await, Vec::<Uuid>::new(), "wildcards are literal");
    assert_eq!(
        find(ChatQuery {
            session_id: Some(talked.id),
            ..ChatQuery::default()
        })
        .await,
        vec![talked.id]
    );
    let window = ChatQuery {
        created_from: Some(at(30)),
        created_to: Some(at(120)),
        ..ChatQuery::default()
    };
    assert_eq!(find(window).await, vec![talked.id], "from inclusive, to exclusive");
}

pub async fn messages_list_oldest_first_and_paginate(store: SharedStore) {
    let alice = saved_user(&store, "alice").await;
    let c = chat(&alice, 0);
    store.create_chat(&c).await.unwrap();
    let mut ids = Vec::new();
    for i in 0..5 {
        let role = if i % 2 == 0 { Role::User } else { Role::Assistant };
        let m = message(&c, role, &format!("m{i}"), i);
        store.add_message(&m).await.unwrap();
        ids.push(m.id);
    }
    let first = store.list_messages(c.id, Page::first(3)).await.unwrap();
    assert_eq!(contents(&first), ["m0", "m1", "m2"]);
    let rest = store
        .list_messages(
            c.id,
            Page {
                limit: 3,
                after: Some(ids[2]),
            },
        )
        .await
        .unwrap();
    assert_eq!(contents(&rest), ["m3", "m4"]);
    // A cursor naming a message of another chat places nothing: the page is empty.
    let other = chat(&alice, 1);
    store.create_chat(&other).await.unwrap();
    let elsewhere = message(&other, Role::User, "elsewhere", 0);
    store.add_message(&elsewhere).await.unwrap();
    let foreign = Page {
        limit: 10,
        after: Some(elsewhere.id),
    };
    assert!(store.list_messages(c.id, foreign).await.unwrap().is_empty());
    let fetched = store.message(c.id, ids[1]).await.unwrap().unwrap();
    assert_eq!((fetched.role, fetched.content.as_str()), (Role::Assistant, "m1"));
    assert!(
        store.message(Uuid::now_v7(), ids[1]).await.unwrap().is_none(),
        "a message is found only in its chat"
    );
}

pub async fn recent_messages_are_the_newest_up_to_a_message(store: SharedStore) {
    let alice = saved_user(&store, "alice").await;
    let c = chat(&alice, 0);
    store.create_chat(&c).await.unwrap();
    let mut saved = Vec::new();
    for i in 0..6 {
        let m = message(&c, Role::User, &format!("m{i}"), i);
        store.add_message(&m).await.unwrap();
        saved.push(m);
    }
    assert_eq!(
        contents(&store.recent_messages(c.id, None, 3).await.unwrap()),
        ["m5", "m4", "m3"]
    );
    assert_eq!(
        contents(&store.recent_messages(c.id, Some(&saved[2]), 10).await.unwrap()),
        ["m2", "m1", "m0"]
    );
}

pub async fn reply_versions_are_kept_and_superseded_ones_hidden(store: SharedStore) {
    let alice = saved_user(&store, "alice").await;
    let c = chat(&alice, 0);
    store.create_chat(&c).await.unwrap();
    let question = message(&c, Role::User, "q", 0);
    store.add_message(&question).await.unwrap();
    let mut first = message(&c, Role::Assistant, "a1", 1);
    first.reply_to = Some(question.id);
    first.provider = Some("scripted".into());
    store.add_message(&first).await.unwrap();
    let mut second = message(&c, Role::Assistant, "a2", 2);
    second.reply_to = Some(question.id);
    store.add_message(&second).await.unwrap();
    first.superseded = true;
    store.update_message(&first).await.unwrap();
    assert_eq!(
        contents(&store.list_messages(c.id, Page::first(10)).await.unwrap()),
        ["q", "a2"]
    );
    assert_eq!(
        contents(&store.recent_messages(c.id, None, 10).await.unwrap()),
        ["a2", "q"]
    );
    let versions = store.replies_to(c.id, question.id).await.unwrap();
    assert_eq!(contents(&versions), ["a1", "a2"]);
    assert!(versions[0].superseded && !versions[1].superseded);
    assert_eq!(versions[0].provider.as_deref(), Some("scripted"));
}

pub async fn a_reply_is_kept_only_over_the_version_it_read(store: SharedStore) {
    let alice = saved_user(&store, "alice").await;
    let c = chat(&alice, 0);
    store.create_chat(&c).await.unwrap();
    let question = message(&c, Role::User, "q", 0);
    store.add_message(&question).await.unwrap();
    let reply = |text: &str, minute| {
        let mut m = message(&c, Role::Assistant, text, minute);
        m.reply_to = Some(question.id);
        m
    };
    let paid = || async {
        let paid = hold(&alice, 10, 60);
        assert!(store.charge(&paid).await.unwrap());
        paid
    };
    // The first reply: version 0 → 1, and its hold ends with the charge kept.
    let a1 = reply("a1", 1);
    let a1_hold = paid().await;
    assert_eq!(
        store
            .add_reply(&a1, &question, &[], &[], &a1_hold, &spent("m", 0))
            .await
            .unwrap(),
        ReplyOutcome::Stored
    );
    assert_eq!(store.refund(&a1_hold).await.unwrap(), Settled::Before);
    assert_eq!(balance_of(&store, &alice).await, (490, 10, 1));
    let read = store.message(c.id, question.id).await.unwrap().unwrap();
    assert_eq!(read.reply_version, 1);
    // Two regenerations read version 1 and the current a1; the first to store wins
    // and supersedes a1, the second changes nothing.
    let (a2, a3) = (reply("a2", 2), reply("a3", 3));
    let current = store.replies_to(c.id, question.id).await.unwrap();
    let a3_hold = paid().await;
    assert_eq!(
        store
            .add_reply(&a2, &read, &current, &[], &paid().await, &spent("m", 0))
            .await
            .unwrap(),
        ReplyOutcome::Stored
    );
    assert_eq!(
        store
            .add_reply(&a3, &read, &current, &[], &a3_hold, &spent("m", 0))
            .await
            .unwrap(),
        ReplyOutcome::Raced
    );
    // The loser's hold is still open, for its request to refund.
    assert_eq!(store.refund(&a3_hold).await.unwrap(), Settled::Now);
    // A reply whose hold has ended already (refunded as stale) is not written.
    let late = paid().await;
    assert_eq!(store.refund(&late).await.unwrap(), Settled::Now);
    let read_again = store.message(c.id, question.id).await.unwrap().unwrap();
    let now_current = store.replies_to(c.id, question.id).await.unwrap();
    let now_current: Vec<_> = now_current.into_iter().filter(|m| !m.superseded).collect();
    assert_eq!(
        store
            .add_reply(
                &reply("unpaid", 4),
                &read_again,
                &now_current,
                &[],
                &late,
                &spent("m", 0)
            )
            .await
            .unwrap(),
        ReplyOutcome::Unpaid
    );
    assert_eq!(balance_of(&store, &alice).await, (480, 20, 2));
    assert_eq!(
        contents(&store.list_messages(c.id, Page::first(10)).await.unwrap()),
        ["q", "a2"]
    );
    let versions = store.replies_to(c.id, question.id).await.unwrap();
    assert_eq!(contents(&versions), ["a1", "a2"]);
    assert!(versions[0].superseded && !versions[1].superseded);
    assert_eq!(
        store.message(c.id, question.id).await.unwrap().unwrap().reply_version,
        2
    );
    // An edit of the question keeps its version.
    let mut edited = store.message(c.id, question.id).await.unwrap().unwrap();
    edited.content = "q2".into();
    store.update_message(&edited).await.unwrap();
    assert_eq!(
        store.message(c.id, question.id).await.unwrap().unwrap().reply_version,
        2
    );
    // Once the chat is deleted there is nothing to reply to, and nothing is written.
    store.delete_chat(c.id).await.unwrap();
    assert_eq!(
        store
            .add_reply(&reply("a4", 4), &edited, &[], &[], &paid().await, &spent("m", 0))
            .await
            .unwrap(),
        ReplyOutcome::QuestionGone
    );
    assert!(store.message(c.id, question.id).await.unwrap().is_none());
    assert!(store.replies_to(c.id, question.id).await.unwrap().is_empty());
}

/// The tree's operations: every message listed with its parent (a first message's
/// `ROOT_PARENT` kept as such), a branch switched in one step that a second switch
/// from the same reading cannot repeat, and a reply that takes over the messages
/// that followed the one it replaced.
pub async fn branches_switch_in_one_step_and_only_from_what_was_read(store: SharedStore) {
    let alice = saved_user(&store, "alice").await;
    let c = chat(&alice, 0);
    store.create_chat(&c).await.unwrap();
    let mut q1 = message(&c, Role::User, "q1", 0);
    q1.parent_id = Some(ROOT_PARENT);
    store.add_message(&q1).await.unwrap();
    let mut a1 = message(&c, Role::Assistant, "a1", 1);
    a1.reply_to = Some(q1.id);
    a1.parent_id = Some(q1.id);
    store.add_message(&a1).await.unwrap();
    let mut q2 = message(&c, Role::User, "q2", 2);
    q2.parent_id = Some(a1.id);
    store.add_message(&q2).await.unwrap();
    let all = store.chat_messages(c.id).await.unwrap();
    assert_eq!(contents(&all), ["q1", "a1", "q2"]);
    assert_eq!(all[0].parent_id, Some(ROOT_PARENT));
    assert_eq!(all[2].parent_id, Some(a1.id));

    // q2 edited as a branch: q2b added beside it, q2 off the active branch.
    let mut q2b = message(&c, Role::User, "q2b", 3);
    q2b.parent_id = Some(a1.id);
    assert!(store
        .switch_branch(c.id, Some(&q2b), &[], std::slice::from_ref(&q2))
        .await
        .unwrap());
    assert_eq!(
        contents(&store.list_messages(c.id, Page::first(10)).await.unwrap()),
        ["q1", "a1", "q2b"]
    );
    assert_eq!(
        contents(&store.recent_messages(c.id, None, 10).await.unwrap()),
        ["q2b", "a1", "q1"]
    );
    // A second switch read before the first changes nothing, not even its new message.
    let mut late = message(&c, Role::User, "late", 4);
    late.parent_id = Some(a1.id);
    assert!(!store
        .switch_branch(c.id, Some(&late), &[], std::slice::from_ref(&q2))
        .await
        .unwrap());
    let all = store.chat_messages(c.id).await.unwrap();
    assert_eq!(contents(&all), ["q1", "a1", "q2", "q2b"]);
    assert!(all[2].superseded && !all[3].superseded);
    // Back to q2: on and off in one step, listed again in time order.
    assert!(store
        .switch_branch(c.id, None, std::slice::from_ref(&q2), std::slice::from_ref(&q2b))
        .await
        .unwrap());
    assert_eq!(
        contents(&store.list_messages(c.id, Page::first(10)).await.unwrap()),
        ["q1", "a1", "q2"]
    );

    // a1 answered again: q2, which followed it, follows the new reply.
    let mut a1b = message(&c, Role::Assistant, "a1b", 5);
    a1b.reply_to = Some(q1.id);
    a1b.parent_id = Some(q1.id);
    let paid = hold(&alice, 10, 60);
    assert!(store.charge(&paid).await.unwrap());
    assert_eq!(
        store
            .add_reply(
                &a1b,
                &q1,
                std::slice::from_ref(&a1),
                std::slice::from_ref(&q2),
                &paid,
                &spent("m", 0)
            )
            .await
            .unwrap(),
        ReplyOutcome::Stored
    );
    let q2_now = store.message(c.id, q2.id).await.unwrap().unwrap();
    assert_eq!(q2_now.parent_id, Some(a1b.id));
    assert!(store.message(c.id, a1.id).await.unwrap().unwrap().superseded);

    // Once the chat is gone, a switch writes nothing.
    store.delete_chat(c.id).await.unwrap();
    let mut after = message(&c, Role::User, "after", 6);
    after.parent_id = Some(ROOT_PARENT);
    assert!(!store.switch_branch(c.id, Some(&after), &[], &[]).await.unwrap());
    assert!(store.chat_messages(c.id).await.unwrap().is_empty());
}

/// An import writes a chat and its messages together; a chat whose id is taken
/// is refused and writes no message.
pub async fn an_imported_chat_is_written_with_its_messages(store: SharedStore) {
    let alice = saved_user(&store, "alice").await;
    let mut c = chat(&alice, 0);
    c.number = store.next_chat_number(alice.id).await.unwrap();
    c.end_time = Some(at(5));
    let mut messages: Vec<Message> = (0..30)
        .map(|n| {
            message(
                &c,
                if n % 2 == 0 { Role::User } else { Role::Assistant },
                &format!("m{n}"),
                n,
            )
        })
        .collect();
    messages[0].parent_id = Some(ROOT_PARENT);
    for n in 1..messages.len() {
        messages[n].parent_id = Some(messages[n - 1].id);
    }
    messages[29].superseded = true;
    store.import_chat(&c, &messages).await.unwrap();
    assert_eq!(store.chat(c.id).await.unwrap(), Some(c.clone()));
    assert_eq!(
        store.chat_by_number(alice.id, c.number).await.unwrap().map(|x| x.id),
        Some(c.id)
    );
    let stored = store.chat_messages(c.id).await.unwrap();
    assert_eq!(stored, messages);
    assert_eq!(store.list_messages(c.id, Page::first(100)).await.unwrap().len(), 29);
    assert!(
        store.open_chat(alice.id).await.unwrap().is_none(),
        "an ended chat is not the open one"
    );
    // The same id again: refused, and no message of it written.
    let again = message(&c, Role::User, "again", 40);
    assert!(matches!(
        store.import_chat(&c, std::slice::from_ref(&again)).await,
        Err(StoreError::Conflict { .. })
    ));
    assert!(store.message(c.id, again.id).await.unwrap().is_none());
}

pub async fn edits_are_saved(store: SharedStore) {
    let alice = saved_user(&store, "alice").await;
    let c = chat(&alice, 0);
    store.create_chat(&c).await.unwrap();
    let mut m = message(&c, Role::User, "before", 0);
    store.add_message(&m).await.unwrap();
    m.content = "after ✓ — ünïcødé".into();
    m.edited_at = Some(at(5));
    store.update_message(&m).await.unwrap();
    assert_eq!(store.message(c.id, m.id).await.unwrap().unwrap(), m);
}

pub async fn deleting_a_chat_or_a_user_removes_everything_under_it(store: SharedStore) {
    let alice = saved_user(&store, "alice").await;
    let bob = saved_user(&store, "bob").await;
    let (one, two, bobs) = (chat(&alice, 0), chat(&alice, 1), chat(&bob, 2));
    for c in [&one, &two, &bobs] {
        store.create_chat(c).await.unwrap();
        store.add_message(&message(c, Role::User, "hello", 3)).await.unwrap();
    }
    store.delete_chat(one.id).await.unwrap();
    assert!(store.chat(one.id).await.unwrap().is_none());
    assert!(store.list_messages(one.id, Page::first(10)).await.unwrap().is_empty());
    store
        .insert_token(&AuthToken {
            digest: "alice".into(),
            user_id: alice.id,
            created_at: at(0),
            expires_at: at(100),
        })
        .await
        .unwrap();
    store.delete_user(alice.id).await.unwrap();
    assert!(store.user_by_id(alice.id).await.unwrap().is_none());
    assert!(store.user_by_token("alice", at(1)).await.unwrap().is_none());
    assert!(store.chat(two.id).await.unwrap().is_none());
    assert!(store.list_messages(two.id, Page::first(10)).await.unwrap().is_empty());
    assert!(
        store.chat(bobs.id).await.unwrap().is_some(),
        "other users keep their data"
    );
    assert_eq!(store.delete_chats_of(bob.id).await.unwrap(), 1);
    assert!(store.list_messages(bobs.id, Page::first(10)).await.unwrap().is_empty());
}

pub async fn concurrent_appends_to_one_chat_are_all_kept_in_time_order(store: SharedStore) {
    let alice = saved_user(&store, "alice").await;
    let c = chat(&alice, 0);
    store.create_chat(&c).await.unwrap();
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let store = store.clone();
            let c = c.clone();
            tokio::spawn(async move {
                store
                    .add_message(&message(&c, Role::User, &format!("m{i}"), i))
                    .await
                    .unwrap()
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let all = store.list_messages(c.id, Page::first(100)).await.unwrap();
    let expected: Vec<String> = (0..40).map(|i| format!("m{i}")).collect();
    assert_eq!(contents(&all), expected.iter().map(String::as_str).collect::<Vec<_>>());
}

/// One `#[tokio::test]` per contract case, each on a fresh store from `$make`.
#[macro_export]
macro_rules! store_contract {
    ($make:expr) => {
        $crate::store_contract!(@cases $make;
            users_are_found_by_id_name_and_email_ignoring_case,
            usernames_and_emails_are_unique_ignoring_case,
            profile_updates_keep_email_unique,
            updates_change_only_the_fields_they_name,
            a_password_change_applies_only_over_the_hash_it_replaces,
            the_admin_role_is_stored_changed_alone_and_listed,
            tokens_resolve_until_they_expire_or_are_revoked,
            charges_take_from_the_balance_and_never_overdraw,
            stale_holds_are_listed_per_user_until_they_end,
            concurrent_charges_succeed_exactly_as_often_as_the_balance_allows,
            rate_limit_counters_count_per_key,
            api_keys_authenticate_count_their_use_and_are_revoked,
            share_links_keep_their_snapshot_list_newest_first_and_are_revoked,
            usage_counts_what_kept_charges_bought_by_hour_model_and_key,
            idempotency_keys_are_held_answered_released_and_expire,
            an_abandoned_claim_is_taken_over_by_the_same_request_only,
            concurrent_claims_of_one_key_give_it_to_one,
            chats_are_created_once_per_id,
            chat_numbers_count_up_per_user_and_are_never_reused,
            concurrent_chat_numbers_are_all_different,
            a_message_to_a_deleted_chat_is_refused,
            a_deleted_chat_leaves_nothing_for_a_chat_with_its_id,
            the_open_chat_is_the_newest_without_an_end,
            chat_lists_are_newest_first_and_paginate,
            chat_lists_filter_by_session_period_and_search,
            messages_list_oldest_first_and_paginate,
            recent_messages_are_the_newest_up_to_a_message,
            reply_versions_are_kept_and_superseded_ones_hidden,
            a_reply_is_kept_only_over_the_version_it_read,
            branches_switch_in_one_step_and_only_from_what_was_read,
            an_imported_chat_is_written_with_its_messages,
            edits_are_saved,
            deleting_a_chat_or_a_user_removes_everything_under_it,
            concurrent_appends_to_one_chat_are_all_kept_in_time_order,
        );
    };
    (@cases $make:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                let store = $make.await;
                $crate::contract::$case(store).await;
            }
        )*
    };
}
