//! The store contract against DynamoDB (a local moto server, `AWS_ENDPOINT_URL`),
//! each case on a table of its own created by the store's own start-up code; then
//! what only the DynamoDB store does.

use chatbot_core::store::dynamodb::items::{to_item, ClaimItem, UserItem};
use chatbot_core::store::{Accounts, ChatQuery, Page, Role, UserChanges};
use chatbot_tests::contract::{at, chat, message, saved_user, user, SharedStore};
use chatbot_tests::dynamodb::{cuttable_store, fresh_store, logged_store, sdk_config};
use std::sync::Arc;

async fn dynamodb() -> SharedStore {
    Arc::new(fresh_store().await)
}

chatbot_tests::store_contract!(dynamodb());

#[tokio::test]
async fn updates_of_deleted_chats_and_messages_write_nothing() {
    let store = dynamodb().await;
    let alice = saved_user(&store, "alice").await;
    let mut c = chat(&alice, 0);
    store.create_chat(&c).await.unwrap();
    let mut m = message(&c, Role::User, "hello", 1);
    store.add_message(&m).await.unwrap();
    store.delete_chat(c.id).await.unwrap();
    c.title = Some("ghost".into());
    store.update_chat(&c).await.unwrap();
    m.content = "ghost".into();
    store.update_message(&m).await.unwrap();
    assert!(store.chat(c.id).await.unwrap().is_none());
    assert!(store.message(c.id, m.id).await.unwrap().is_none());
    assert!(store.open_chat(alice.id).await.unwrap().is_none());
    assert!(store
        .list_chats(alice.id, &ChatQuery::default(), Page::first(10))
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn a_cursor_that_names_nothing_gives_an_empty_page() {
    let store = dynamodb().await;
    let alice = saved_user(&store, "alice").await;
    let c = chat(&alice, 0);
    store.create_chat(&c).await.unwrap();
    store.add_message(&message(&c, Role::User, "m", 1)).await.unwrap();
    let nowhere = Page {
        limit: 10,
        after: Some(uuid::Uuid::now_v7()),
    };
    assert!(store
        .list_chats(alice.id, &ChatQuery::default(), nowhere)
        .await
        .unwrap()
        .is_empty());
    assert!(store.list_messages(c.id, nowhere).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_cursor_outside_the_period_still_pages_within_it() {
    let store = dynamodb().await;
    let alice = saved_user(&store, "alice").await;
    let (old, mid, new) = (chat(&alice, 0), chat(&alice, 60), chat(&alice, 120));
    for c in [&old, &mid, &new] {
        store.create_chat(c).await.unwrap();
    }
    let window = ChatQuery {
        created_from: Some(at(0)),
        created_to: Some(at(90)),
        ..ChatQuery::default()
    };
    let after_newest = Page {
        limit: 10,
        after: Some(new.id),
    };
    let ids: Vec<_> = store
        .list_chats(alice.id, &window, after_newest)
        .await
        .unwrap()
        .iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(ids, vec![mid.id, old.id]);
}

#[tokio::test]
async fn search_pages_through_many_chats_and_stops_at_the_limit() {
    let store = dynamodb().await;
    let alice = saved_user(&store, "alice").await;
    let mut matching = Vec::new();
    // More chats than one search page (100), the matches spread across them.
    for minute in 0..130 {
        let c = chat(&alice, minute);
        store.create_chat(&c).await.unwrap();
        let text = if minute % 40 == 0 { "the NEEDLE here" } else { "hay" };
        store.add_message(&message(&c, Role::User, text, minute)).await.unwrap();
        if minute % 40 == 0 {
            matching.push(c.id);
        }
    }
    matching.reverse();
    let search = ChatQuery {
        search: Some("needle".into()),
        ..ChatQuery::default()
    };
    let found: Vec<_> = store
        .list_chats(alice.id, &search, Page::first(10))
        .await
        .unwrap()
        .iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(found, matching);
    let first_two: Vec<_> = store
        .list_chats(alice.id, &search, Page::first(2))
        .await
        .unwrap()
        .iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(first_two, matching[..2]);
}

#[tokio::test]
async fn big_messages_are_one_item_each_and_list_across_1_mb_pages() {
    let store = dynamodb().await;
    let alice = saved_user(&store, "alice").await;
    let c = chat(&alice, 0);
    store.create_chat(&c).await.unwrap();
    // 30 messages of 48 KiB: about 1.4 MB, more than one DynamoDB page.
    let body = "é".repeat(24 * 1024);
    for i in 0..30 {
        store
            .add_message(&message(&c, Role::User, &format!("{i} {body}"), i))
            .await
            .unwrap();
    }
    let all = store.list_messages(c.id, Page::first(100)).await.unwrap();
    assert_eq!(all.len(), 30);
    assert!(all
        .iter()
        .enumerate()
        .all(|(i, m)| m.content.starts_with(&format!("{i} "))));
    store.delete_chat(c.id).await.unwrap();
    assert!(store.list_messages(c.id, Page::first(100)).await.unwrap().is_empty());
}

#[tokio::test]
async fn deleting_an_account_deletes_more_than_one_batch_of_items() {
    let store = dynamodb().await;
    let alice = saved_user(&store, "alice").await;
    let mut chats = Vec::new();
    for minute in 0..12 {
        let c = chat(&alice, minute);
        store.create_chat(&c).await.unwrap();
        for i in 0..3 {
            store
                .add_message(&message(&c, Role::User, "m", minute + i))
                .await
                .unwrap();
        }
        chats.push(c);
    }
    store.delete_user(alice.id).await.unwrap();
    for c in &chats {
        assert!(store.chat(c.id).await.unwrap().is_none());
        assert!(store.list_messages(c.id, Page::first(10)).await.unwrap().is_empty());
    }
    // The name and address are free again.
    saved_user(&store, "alice").await;
}

#[tokio::test]
async fn a_user_item_keeps_only_what_it_has() {
    let mut no_mail = user("carol");
    no_mail.email = None;
    let item = to_item(&UserItem::new(&no_mail)).unwrap();
    assert!(!item.contains_key("email") && !item.contains_key("email_key"));
}

/// Tables written before the admin role existed hold profiles without `is_admin`:
/// they read as accounts without the role, and the role can be granted to them.
#[tokio::test]
async fn a_profile_without_the_role_attribute_is_no_admin() {
    let store = fresh_store().await;
    let client = aws_sdk_dynamodb::Client::new(&sdk_config().await);
    let old = user("olga");
    let mut profile = to_item(&UserItem::new(&old)).unwrap();
    assert!(profile.remove("is_admin").is_some(), "new profiles do carry it");
    for item in [profile, to_item(&ClaimItem::username("olga", old.id)).unwrap()] {
        client
            .put_item()
            .table_name(store.table())
            .set_item(Some(item))
            .send()
            .await
            .unwrap();
    }
    let read = store.user_by_username("olga").await.unwrap().unwrap();
    assert_eq!((read.id, read.is_admin), (old.id, false));
    assert!(store.admins().await.unwrap().is_empty());
    let grant = UserChanges {
        is_admin: Some(true),
        ..UserChanges::default()
    };
    store.update_user(old.id, &grant).await.unwrap();
    assert!(store.user_by_id(old.id).await.unwrap().unwrap().is_admin);
    assert_eq!(store.admins().await.unwrap()[0].id, old.id);
}

/// Listing admins scans the table; a table over 1 MB takes more than one page,
/// and an admin written after the bulk is on a later one.
#[tokio::test]
async fn listing_admins_reads_every_page_of_the_scan() {
    let (store, log) = logged_store().await;
    let store: SharedStore = Arc::new(store);
    let alice = user("alice");
    store.create_user(&alice).await.unwrap();
    let c = chat(&alice, 0);
    store.create_chat(&c).await.unwrap();
    let body = "é".repeat(24 * 1024);
    for i in 0..30 {
        store.add_message(&message(&c, Role::User, &body, i)).await.unwrap();
    }
    let zed = user("zed");
    store.create_user(&zed).await.unwrap();
    let grant = UserChanges {
        is_admin: Some(true),
        ..UserChanges::default()
    };
    store.update_user(zed.id, &grant).await.unwrap();
    log.take();
    let admins = store.admins().await.unwrap();
    assert_eq!(admins.iter().map(|u| u.id).collect::<Vec<_>>(), [zed.id]);
    let scans = log.take().iter().filter(|op| *op == "Scan").count();
    assert!(scans >= 2, "the table spans several scan pages: {scans}");
}

/// A chat delete cut off at each of its steps (after a first batch of messages,
/// before its last transaction) leaves the chat findable, refusing new messages,
/// and a second delete finishes it: nothing is left for a chat with its id.
#[tokio::test]
async fn a_chat_delete_cut_off_midway_is_finished_by_a_second_one() {
    for (operation, allowed) in [("BatchWriteItem", 1), ("TransactWriteItems", 0), ("Query", 0)] {
        let (store, cut) = cuttable_store().await;
        let store: SharedStore = Arc::new(store);
        let alice = saved_user(&store, "alice").await;
        let mut c = chat(&alice, 0);
        c.number = store.next_chat_number(alice.id).await.unwrap();
        store.create_chat(&c).await.unwrap();
        for minute in 1..=60 {
            store
                .add_message(&message(&c, Role::User, "secret", minute))
                .await
                .unwrap();
        }
        cut.after(operation, allowed);
        assert!(store.delete_chat(c.id).await.is_err(), "{operation}: cut off");
        cut.heal();
        // Still there for the client's retry, by id, by number and in the list …
        assert!(store.chat(c.id).await.unwrap().is_some(), "{operation}");
        assert!(store.chat_by_number(alice.id, c.number).await.unwrap().is_some());
        let listed = store
            .list_chats(alice.id, &ChatQuery::default(), Page::first(10))
            .await
            .unwrap();
        assert_eq!(listed.len(), 1, "{operation}");
        // … but closed to new messages (none could be left behind).
        assert!(store
            .add_message(&message(&c, Role::Assistant, "late", 61))
            .await
            .is_err());
        store.delete_chat(c.id).await.unwrap();
        assert!(store.chat(c.id).await.unwrap().is_none(), "{operation}");
        assert!(store.chat_by_number(alice.id, c.number).await.unwrap().is_none());
        assert!(store.list_messages(c.id, Page::first(100)).await.unwrap().is_empty());
        let mut again = chat(&alice, 70);
        again.id = c.id;
        again.number = store.next_chat_number(alice.id).await.unwrap();
        store.create_chat(&again).await.unwrap();
        assert!(
            store
                .list_messages(again.id, Page::first(100))
                .await
                .unwrap()
                .is_empty(),
            "{operation}: a chat with the id reads nothing of the deleted one"
        );
    }
}

/// Deleting every chat, cut off after a first batch, is finished by a second one.
#[tokio::test]
async fn deleting_every_chat_cut_off_midway_is_finished_by_a_second_one() {
    let (store, cut) = cuttable_store().await;
    let store: SharedStore = Arc::new(store);
    let alice = saved_user(&store, "alice").await;
    let mut chats = Vec::new();
    for minute in 0..4 {
        let c = chat(&alice, minute * 20);
        store.create_chat(&c).await.unwrap();
        for i in 1..=15 {
            store
                .add_message(&message(&c, Role::User, "m", minute * 20 + i))
                .await
                .unwrap();
        }
        chats.push(c);
    }
    cut.after("BatchWriteItem", 1);
    assert!(store.delete_chats_of(alice.id).await.is_err());
    cut.heal();
    assert_eq!(
        store.delete_chats_of(alice.id).await.unwrap(),
        4,
        "the entries led to every chat"
    );
    for c in &chats {
        assert!(store.chat(c.id).await.unwrap().is_none());
        assert!(store.list_messages(c.id, Page::first(100)).await.unwrap().is_empty());
    }
}
