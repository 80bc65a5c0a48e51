//! Accounts end to end: register, login, logout, profile, deletion, deactivation.

use chatbot_tests::{assert_error, TestApp};
use serde_json::json;
use std::collections::HashMap;

#[tokio::test]
async fn register_answers_201_with_a_token_and_the_starting_balance() {
    let app = TestApp::new().await;
    let response = app
        .call(
            "POST",
            "/api/register/",
            None,
            Some(json!({"username": "alice", "password": "password123", "email": "a@example.com"})),
        )
        .await;
    assert_eq!(response.status, 201, "{}", response.text);
    let body = &response.body;
    assert_eq!(body["message"], "Registered successfully!");
    assert_eq!(body["tokens"], 4000);
    assert_eq!(body["user"]["username"], "alice");
    assert_eq!(body["user"]["email"], "a@example.com");
    assert!(body["user"]["id"].as_str().unwrap().parse::<uuid::Uuid>().is_ok());
    assert!(body["user"]["date_joined"].as_str().unwrap().ends_with('Z'));
    assert_eq!(body["token"].as_str().unwrap().len(), 43);
    assert!(!response.text.contains("password123"), "the password is never echoed");
    let me = app
        .call("GET", "/api/me", Some(body["token"].as_str().unwrap()), None)
        .await;
    assert_eq!(me.status, 200);
    assert_eq!(me.body["user"]["username"], "alice");
}

#[tokio::test]
async fn register_validates_every_field() {
    let app = TestApp::new().await;
    let cases = [
        (json!({"username": "al", "password": "password123"}), "username"),
        (json!({"username": "has space", "password": "password123"}), "username"),
        (
            json!({"username": "x".repeat(151), "password": "password123"}),
            "username",
        ),
        (json!({"username": "alice", "password": "short"}), "password"),
        (
            json!({"username": "alice", "password": "password123", "email": "not-an-email"}),
            "email",
        ),
        (json!({"username": "alice"}), "password"),
        (
            json!({"username": "alice", "password": "password123", "is_admin": true}),
            "is_admin",
        ),
        (json!({"username": 5, "password": "password123"}), "username"),
    ];
    for (body, field) in cases {
        let response = app.call("POST", "/api/register/", None, Some(body.clone())).await;
        assert_error(&response, 400);
        assert_eq!(response.body["field"], field, "{body}");
    }
}

#[tokio::test]
async fn usernames_and_emails_are_taken_ignoring_case() {
    let app = TestApp::new().await;
    let first = json!({"username": "Alice", "password": "password123", "email": "alice@example.com"});
    assert_eq!(app.call("POST", "/api/register/", None, Some(first)).await.status, 201);
    let same_name = app
        .call(
            "POST",
            "/api/register/",
            None,
            Some(json!({"username": "aLICE", "password": "password123"})),
        )
        .await;
    assert_eq!(assert_error(&same_name, 409), "username_taken");
    let same_mail = app
        .call(
            "POST",
            "/api/register/",
            None,
            Some(json!({"username": "bob", "password": "password123", "email": "ALICE@example.com"})),
        )
        .await;
    assert_eq!(assert_error(&same_mail, 409), "email_taken");
}

#[tokio::test]
async fn login_by_username_or_email_and_failures_look_alike() {
    let app = TestApp::new().await;
    let body = json!({"username": "alice", "password": "password123", "email": "alice@example.com"});
    app.call("POST", "/api/register/", None, Some(body)).await;
    let by_name = app
        .call(
            "POST",
            "/api/login/",
            None,
            Some(json!({"username": "ALICE", "password": "password123"})),
        )
        .await;
    assert_eq!(by_name.status, 200, "{}", by_name.text);
    assert_eq!(by_name.body["message"], "Logged-In successfully!");
    assert_eq!(by_name.body["user"]["username"], "alice");
    let by_mail = app
        .call(
            "POST",
            "/api/login/",
            None,
            Some(json!({"email": "alice@example.com", "password": "password123"})),
        )
        .await;
    assert_eq!(by_mail.status, 200);
    assert_ne!(
        by_name.body["token"], by_mail.body["token"],
        "each login is its own token"
    );
    let wrong_password = app
        .call(
            "POST",
            "/api/login/",
            None,
            Some(json!({"username": "alice", "password": "wrong-password"})),
        )
        .await;
    let unknown_user = app
        .call(
            "POST",
            "/api/login/",
            None,
            Some(json!({"username": "nobody", "password": "password123"})),
        )
        .await;
    assert_eq!(assert_error(&wrong_password, 401), "invalid_credentials");
    assert_eq!(assert_error(&unknown_user, 401), "invalid_credentials");
    assert_eq!(wrong_password.body, unknown_user.body, "no hint which part was wrong");
    let neither = app
        .call("POST", "/api/login/", None, Some(json!({"password": "password123"})))
        .await;
    assert_error(&neither, 400);
}

#[tokio::test]
async fn routes_need_a_valid_token_in_either_scheme() {
    let app = TestApp::new().await;
    let token = app.register("alice").await;
    assert_error(&app.call("GET", "/api/me/", None, None).await, 401);
    assert_error(&app.call("GET", "/api/me/", Some("not-a-real-token"), None).await, 401);
    let mut headers = std::collections::HashMap::new();
    headers.insert("authorization".to_string(), format!("Bearer {token}"));
    assert_eq!(
        app.send("GET", "/api/me/", headers.clone(), None, "127.0.0.1")
            .await
            .status,
        200
    );
    headers.insert("authorization".to_string(), format!("Basic {token}"));
    assert_error(&app.send("GET", "/api/me/", headers, None, "127.0.0.1").await, 401);
}

#[tokio::test]
async fn expired_tokens_are_refused() {
    let app = TestApp::with_vars(&[("TOKEN_TTL_DAYS", "1")]).await;
    let start = chrono::Utc::now();
    app.set_now(Some(start));
    let token = app.register("alice").await;
    app.set_now(Some(start + chrono::Duration::hours(23)));
    assert_eq!(app.call("GET", "/api/me/", Some(&token), None).await.status, 200);
    app.set_now(Some(start + chrono::Duration::hours(25)));
    assert_error(&app.call("GET", "/api/me/", Some(&token), None).await, 401);
}

#[tokio::test]
async fn logout_revokes_the_token_at_once_and_all_revokes_every_token() {
    let app = TestApp::new().await;
    let first = app.register("alice").await;
    let login = |_: ()| {
        app.call(
            "POST",
            "/api/login/",
            None,
            Some(json!({"username": "alice", "password": "password123"})),
        )
    };
    let second = login(()).await.body["token"].as_str().unwrap().to_string();
    let third = login(()).await.body["token"].as_str().unwrap().to_string();
    let out = app.call("POST", "/api/logout/", Some(&first), None).await;
    assert_eq!(out.status, 200);
    assert_error(&app.call("GET", "/api/me/", Some(&first), None).await, 401);
    assert_eq!(app.call("GET", "/api/me/", Some(&second), None).await.status, 200);
    assert_eq!(
        app.call("POST", "/api/logout/?all=true", Some(&second), None)
            .await
            .status,
        200
    );
    assert_error(&app.call("GET", "/api/me/", Some(&second), None).await, 401);
    assert_error(&app.call("GET", "/api/me/", Some(&third), None).await, 401);
    assert_error(
        &app.call("POST", "/api/logout/?all=maybe", Some(&third), None).await,
        401,
    );
}

#[tokio::test]
async fn the_profile_shows_balance_admin_flag_and_zone() {
    let app = TestApp::new().await;
    let alice = app.register("alice").await;
    let root = app.register("root").await;
    chatbot_admin::grant(app.state.store.as_ref(), "root").await.unwrap();
    let me = app.call("GET", "/api/me/", Some(&alice), None).await.body;
    assert_eq!(me["tokens"], 4000);
    assert_eq!(me["is_active"], true);
    assert_eq!(me["is_admin"], false);
    assert_eq!(me["time_zone"], "Asia/Karachi");
    assert_eq!(
        app.call("GET", "/api/me/", Some(&root), None).await.body["is_admin"],
        true
    );
}

#[tokio::test]
async fn the_profile_updates_email_zone_and_password() {
    let app = TestApp::new().await;
    let token = app.register("alice").await;
    app.register("bob").await;
    let other_session = app
        .call(
            "POST",
            "/api/login/",
            None,
            Some(json!({"username": "alice", "password": "password123"})),
        )
        .await
        .body["token"]
        .as_str()
        .unwrap()
        .to_string();
    let updated = app
        .call(
            "PATCH",
            "/api/me/",
            Some(&token),
            Some(json!({"email": "new@example.com", "time_zone": "Europe/Paris"})),
        )
        .await;
    assert_eq!(updated.status, 200, "{}", updated.text);
    assert_eq!(updated.body["user"]["email"], "new@example.com");
    assert_eq!(updated.body["time_zone"], "Europe/Paris");
    let bad_zone = app
        .call(
            "PATCH",
            "/api/me/",
            Some(&token),
            Some(json!({"time_zone": "Mars/Base"})),
        )
        .await;
    assert_eq!(assert_error(&bad_zone, 400), "invalid_field");
    assert_eq!(bad_zone.body["field"], "time_zone");
    let cleared = app
        .call(
            "PATCH",
            "/api/me/",
            Some(&token),
            Some(json!({"email": null, "time_zone": null})),
        )
        .await;
    assert_eq!(cleared.body["user"]["email"], serde_json::Value::Null);
    assert_eq!(cleared.body["time_zone"], "Asia/Karachi");
    let wrong_old = app
        .call(
            "PATCH",
            "/api/me/",
            Some(&token),
            Some(json!({"password": {"old": "not-it-at-all", "new": "newpassword1"}})),
        )
        .await;
    assert_error(&wrong_old, 400);
    assert_eq!(wrong_old.body["field"], "password.old");
    let too_short = app
        .call(
            "PATCH",
            "/api/me/",
            Some(&token),
            Some(json!({"password": {"old": "password123", "new": "short"}})),
        )
        .await;
    assert_eq!(too_short.body["field"], "password.new");
    let changed = app
        .call(
            "PATCH",
            "/api/me/",
            Some(&token),
            Some(json!({"password": {"old": "password123", "new": "newpassword1"}})),
        )
        .await;
    assert_eq!(changed.status, 200);
    assert_eq!(
        app.call("GET", "/api/me/", Some(&token), None).await.status,
        200,
        "this session stays"
    );
    assert_error(&app.call("GET", "/api/me/", Some(&other_session), None).await, 401);
    let old_login = app
        .call(
            "POST",
            "/api/login/",
            None,
            Some(json!({"username": "alice", "password": "password123"})),
        )
        .await;
    assert_error(&old_login, 401);
    let new_login = app
        .call(
            "POST",
            "/api/login/",
            None,
            Some(json!({"username": "alice", "password": "newpassword1"})),
        )
        .await;
    assert_eq!(new_login.status, 200);
    let taken = app
        .call(
            "PATCH",
            "/api/me/",
            Some(&token),
            Some(json!({"email": "bob@example.com"})),
        )
        .await;
    // bob registered without an email, so the address is free; take it, then collide.
    assert_eq!(taken.status, 200);
    let bob = app
        .call(
            "POST",
            "/api/login/",
            None,
            Some(json!({"username": "bob", "password": "password123"})),
        )
        .await
        .body["token"]
        .as_str()
        .unwrap()
        .to_string();
    let collide = app
        .call(
            "PATCH",
            "/api/me/",
            Some(&bob),
            Some(json!({"email": "BOB@example.com"})),
        )
        .await;
    assert_eq!(assert_error(&collide, 409), "email_taken");
}

#[tokio::test]
async fn deleting_the_account_removes_everything() {
    let app = TestApp::new().await;
    let token = app.register("alice").await;
    let chat = app.chat(&token, "hello").await;
    let deleted = app.call("DELETE", "/api/me/", Some(&token), None).await;
    assert_eq!(deleted.status, 200);
    assert_error(&app.call("GET", "/api/me/", Some(&token), None).await, 401);
    let login = app
        .call(
            "POST",
            "/api/login/",
            None,
            Some(json!({"username": "alice", "password": "password123"})),
        )
        .await;
    assert_error(&login, 401);
    let chat_id = chat["chat_id"].as_str().unwrap();
    assert!(app.state.store.chat(chat_id.parse().unwrap()).await.unwrap().is_none());
    // The name is free again.
    assert_eq!(app.register("alice").await.len(), 43);
}

#[tokio::test]
async fn admins_deactivate_and_activate_accounts() {
    let app = TestApp::new().await;
    let root = app.register("root").await;
    chatbot_admin::grant(app.state.store.as_ref(), "root").await.unwrap();
    let alice = app.register("alice").await;
    let not_admin = app
        .call("POST", "/api/users/root/deactivate/", Some(&alice), None)
        .await;
    assert_eq!(assert_error(&not_admin, 403), "not_admin");
    let missing = app
        .call("POST", "/api/users/nobody/deactivate/", Some(&root), None)
        .await;
    assert_error(&missing, 404);
    // A name no account can have is looked up nowhere (a DynamoDB key over 2 KB).
    let long = format!("/api/users/{}/deactivate/", "a".repeat(3000));
    assert_error(&app.call("POST", &long, Some(&root), None).await, 404);
    let own = app.call("POST", "/api/users/root/deactivate/", Some(&root), None).await;
    assert_error(&own, 400);
    let off = app.call("POST", "/api/users/ALICE/deactivate", Some(&root), None).await;
    assert_eq!(off.status, 200, "{}", off.text);
    assert_eq!(off.body["is_active"], false);
    let refused = app.call("GET", "/api/me/", Some(&alice), None).await;
    assert_eq!(assert_error(&refused, 403), "account_deactivated");
    let login = app
        .call(
            "POST",
            "/api/login/",
            None,
            Some(json!({"username": "alice", "password": "password123"})),
        )
        .await;
    assert_error(&login, 403);
    let wrong_password = app
        .call(
            "POST",
            "/api/login/",
            None,
            Some(json!({"username": "alice", "password": "wrong-password"})),
        )
        .await;
    assert_error(&wrong_password, 401);
    let on = app.call("POST", "/api/users/alice/activate/", Some(&root), None).await;
    assert_eq!(on.body["is_active"], true);
    assert_eq!(
        app.call("GET", "/api/me/", Some(&alice), None).await.status,
        200,
        "the old token works again"
    );
}

/// Admin is a role stored on the account: a name once listed in the retired
/// `ADMIN_USERNAMES` setting makes nobody an admin.
#[tokio::test]
async fn a_name_that_used_to_be_listed_makes_no_admin() {
    let app = TestApp::new().await;
    app.register("alice").await;
    for name in ["root", "admin"] {
        let token = app.register(name).await;
        assert_eq!(
            app.call("GET", "/api/me/", Some(&token), None).await.body["is_admin"],
            false
        );
        let refused = app
            .call("POST", "/api/users/alice/deactivate/", Some(&token), None)
            .await;
        assert_eq!(assert_error(&refused, 403), "not_admin", "{name}");
    }
}

#[tokio::test]
async fn an_account_granted_the_role_is_an_admin_until_it_is_revoked() {
    let app = TestApp::new().await;
    let root = app.register("root").await;
    let alice = app.register("alice").await;
    let change = chatbot_admin::grant(app.state.store.as_ref(), "ROOT").await.unwrap();
    assert!(change.changed && change.user.is_admin);
    assert_eq!(
        app.call("GET", "/api/me/", Some(&root), None).await.body["is_admin"],
        true
    );
    let off = app
        .call("POST", "/api/users/alice/deactivate/", Some(&root), None)
        .await;
    assert_eq!(off.status, 200, "{}", off.text);
    let own = app.call("POST", "/api/users/root/deactivate/", Some(&root), None).await;
    assert_eq!(assert_error(&own, 400), "cannot_deactivate_self");

    chatbot_admin::revoke(app.state.store.as_ref(), "root").await.unwrap();
    // The same token: the role is read with the account on every request.
    let refused = app.call("POST", "/api/users/alice/activate/", Some(&root), None).await;
    assert_eq!(assert_error(&refused, 403), "not_admin");
    assert_eq!(
        app.call("GET", "/api/me/", Some(&root), None).await.body["is_admin"],
        false
    );
    assert_error(&app.call("GET", "/api/me/", Some(&alice), None).await, 403);
}

#[tokio::test]
async fn the_role_goes_with_a_deleted_account_not_to_the_next_owner_of_its_name() {
    let app = TestApp::new().await;
    let root = app.register("root").await;
    app.register("alice").await;
    chatbot_admin::grant(app.state.store.as_ref(), "root").await.unwrap();
    assert_eq!(app.call("DELETE", "/api/me/", Some(&root), None).await.status, 200);
    let newcomer = app.register("root").await;
    assert_eq!(
        app.call("GET", "/api/me/", Some(&newcomer), None).await.body["is_admin"],
        false
    );
    let refused = app
        .call("POST", "/api/users/alice/deactivate/", Some(&newcomer), None)
        .await;
    assert_eq!(assert_error(&refused, 403), "not_admin");
}

/// Issue 10, "no lost updates": a profile edit writes only the fields it changes,
/// so one racing a password change or a deactivation never writes the old password
/// hash or `is_active: true` back. Editors keep editing while the change lands, so
/// some edit straddles it (read before, written after) in every round.
#[tokio::test]
async fn profile_edits_racing_a_password_change_or_a_deactivation_never_undo_them() {
    let app = TestApp::with_vars(&[("AUTH_RATE_LIMIT_PER_MINUTE", "1000")]).await;
    let root = app.register("root").await;
    chatbot_admin::grant(app.state.store.as_ref(), "root").await.unwrap();
    let login = |name: String, password: &'static str| {
        let app = &app;
        async move {
            app.call(
                "POST",
                "/api/login/",
                None,
                Some(json!({"username": name, "password": password})),
            )
            .await
            .status
        }
    };
    // Four editors, each sending time-zone changes one after another.
    let editors = |token: String| {
        let app = &app;
        futures::future::join_all((0..4).map(move |editor| {
            let token = token.clone();
            async move {
                for zone in [
                    "Europe/Paris",
                    "Asia/Tokyo",
                    "America/Lima",
                    "Africa/Cairo",
                    "Asia/Dubai",
                ] {
                    let edit = app
                        .call("PATCH", "/api/me/", Some(&token), Some(json!({"time_zone": zone})))
                        .await;
                    assert!(matches!(edit.status, 200 | 403), "editor {editor}: {}", edit.text);
                }
            }
        }))
    };
    for round in 0..4 {
        let name = format!("alice{round}");
        let token = app.register(&name).await;
        let change = app.call(
            "PATCH",
            "/api/me/",
            Some(&token),
            Some(json!({"password": {"old": "password123", "new": "a new password"}})),
        );
        let (changed, _) = futures::join!(change, editors(token.clone()));
        assert_eq!(changed.status, 200, "{}", changed.text);
        assert_eq!(
            login(name.clone(), "password123").await,
            401,
            "round {round}: the old password fails"
        );
        assert_eq!(login(name, "a new password").await, 200, "round {round}");

        let name = format!("bob{round}");
        let token = app.register(&name).await;
        let path = format!("/api/users/{name}/deactivate/");
        let deactivate = app.call("POST", &path, Some(&root), None);
        let (deactivated, _) = futures::join!(deactivate, editors(token.clone()));
        assert_eq!(deactivated.status, 200, "{}", deactivated.text);
        let me = app.call("GET", "/api/me/", Some(&token), None).await;
        assert_eq!(
            (me.status, me.body["code"].as_str()),
            (403, Some("account_deactivated")),
            "round {round}: the deactivation stands"
        );
    }
}

#[tokio::test]
async fn a_password_change_against_a_replaced_password_is_a_conflict() {
    let app = TestApp::new().await;
    let token = app.register("alice").await;
    let change = |new: &str| json!({"password": {"old": "password123", "new": new}});
    let (first, second) = futures::join!(
        app.call("PATCH", "/api/me/", Some(&token), Some(change("first new password"))),
        app.call("PATCH", "/api/me/", Some(&token), Some(change("second new password"))),
    );
    // Both were checked against the same stored hash; one wins, the other is told.
    let mut statuses = [first.status, second.status];
    statuses.sort();
    assert_eq!(statuses, [200, 409], "{} / {}", first.text, second.text);
    let loser = if first.status == 409 { &first } else { &second };
    assert_eq!(loser.body["code"], "password_changed");
}

#[tokio::test]
async fn names_and_addresses_no_account_can_have_never_reach_the_store() {
    // On DynamoDB a key over 2 KB is a store error: these were 500s there.
    let app = TestApp::with_vars(&[("AUTH_RATE_LIMIT_PER_MINUTE", "1000")]).await;
    app.register("alice").await;
    let long = "a".repeat(3000);
    let long_mail = format!("{long}@example.com");
    let register = app
        .call(
            "POST",
            "/api/register/",
            None,
            Some(json!({"username": long, "password": "password123"})),
        )
        .await;
    assert_error(&register, 400);
    assert_eq!(register.body["field"], "username");
    let register = app
        .call(
            "POST",
            "/api/register/",
            None,
            Some(json!({"username": "bob", "password": "password123", "email": long_mail})),
        )
        .await;
    assert_error(&register, 400);
    assert_eq!(register.body["field"], "email");
    for body in [
        json!({"username": long, "password": "password123"}),
        json!({"email": long_mail, "password": "password123"}),
        json!({"username": "bad name;", "password": "password123"}),
    ] {
        let login = app.call("POST", "/api/login/", None, Some(body.clone())).await;
        assert_eq!(assert_error(&login, 401), "invalid_credentials", "{body:.40}");
        // Dialect E's login answers its own 400 for bad credentials.
        let e_login = app.call("POST", "/auth/login/", None, Some(body)).await;
        assert_eq!(assert_error(&e_login, 400), "invalid_credentials");
    }
    let token = app.register("carol").await;
    let taken = app
        .call("PATCH", "/api/me/", Some(&token), Some(json!({"email": long_mail})))
        .await;
    assert_error(&taken, 400);
    assert_eq!(taken.body["field"], "email");
}

#[tokio::test]
async fn a_bad_time_zone_is_a_400_only_once_the_caller_is_known() {
    let app = TestApp::new().await;
    let token = app.register("alice").await;
    let anonymous = app.call("GET", "/api/me/?tz=Nowhere/Else", None, None).await;
    assert_eq!(assert_error(&anonymous, 401), "not_authenticated");
    let known = app.call("GET", "/api/me/?tz=Nowhere/Else", Some(&token), None).await;
    assert_error(&known, 400);
    assert_eq!(known.body["field"], "tz");
}

/// An instant ten seconds into a minute.
fn mid_minute() -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp(1_800_000_010, 0).unwrap()
}

#[tokio::test]
async fn password_checks_count_against_the_auth_rate_limit() {
    let app = TestApp::with_vars(&[("AUTH_RATE_LIMIT_PER_MINUTE", "3")]).await;
    // One instant for the whole test, so no window turns over between its requests.
    app.set_now(Some(mid_minute()));
    // Registered from another address, so the guesses start with a fresh window.
    let body = json!({"username": "alice", "password": "password123"});
    let registered = app
        .send(
            "POST",
            "/api/register/",
            HashMap::from([("content-type".to_string(), "application/json".to_string())]),
            Some(body.to_string()),
            "203.0.113.1",
        )
        .await;
    let token = registered.body["token"].as_str().unwrap().to_string();
    let guess = |n: usize| json!({"password": {"old": format!("guess-{n}-wrong"), "new": "new-password-1"}});
    // Each guess from a new address: the account's own window still counts them.
    let mut statuses = Vec::new();
    for n in 0..5 {
        let headers = HashMap::from([
            ("authorization".to_string(), format!("Token {token}")),
            ("content-type".to_string(), "application/json".to_string()),
        ]);
        let ip = format!("198.51.100.{}", 10 + n);
        let response = app
            .send("PATCH", "/api/me/", headers, Some(guess(n).to_string()), &ip)
            .await;
        if response.status == 429 {
            assert_eq!(response.body["code"], "rate_limited");
            assert!(response.header("retry-after").is_some());
        }
        statuses.push(response.status);
    }
    assert_eq!(statuses, [400, 400, 400, 429, 429]);
    // From one address, a login after the limit is spent by password checks is refused too.
    let app = TestApp::with_vars(&[("AUTH_RATE_LIMIT_PER_MINUTE", "3")]).await;
    app.set_now(Some(mid_minute()));
    let token = app.register("bob").await;
    let mut statuses = Vec::new();
    for n in 0..2 {
        let response = app.call("PATCH", "/api/me/", Some(&token), Some(guess(n))).await;
        statuses.push(response.status);
    }
    let login = app
        .call(
            "POST",
            "/api/login/",
            None,
            Some(json!({"username": "bob", "password": "password123"})),
        )
        .await;
    statuses.push(login.status);
    // register (1) and two checks (2, 3) fill the window; the login is the 4th.
    assert_eq!(statuses, [400, 400, 429]);
    // A time-zone change alone is no password check and is not limited.
    let zone = app
        .call("PATCH", "/api/me/", Some(&token), Some(json!({"time_zone": "UTC"})))
        .await;
    assert_eq!(zone.status, 200);
}
