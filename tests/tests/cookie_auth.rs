//! Cookie authentication (API.md §4) on its own: which credential wins, the
//! cross-site request check, CORS with credentials, and the cookie's settings.

use chatbot_tests::{assert_error, TestApp};
use serde_json::json;

const CLIENT: &str = "http://localhost:5173";
const EVIL: &str = "https://evil.example";
/// The `Host` of the test requests: the API's own origin's authority.
const OWN: &str = "api.example.com";

async fn signed_in(app: &TestApp, name: &str) -> (String, String) {
    let token = app.register(name).await;
    let login = app
        .call(
            "POST",
            "/auth/login/",
            None,
            Some(json!({"username": name, "password": "password123"})),
        )
        .await;
    assert_eq!(login.status, 200, "{}", login.text);
    let cookie = login.set_cookies()[0].split(';').next().unwrap().to_string();
    (token, cookie)
}

#[tokio::test]
async fn the_cookie_signs_in_on_canonical_routes_too_and_the_header_wins() {
    let app = TestApp::new().await;
    let (_, cookie) = signed_in(&app, "alice").await;
    let me = app.call_with("GET", "/api/me/", &[("cookie", &cookie)], None).await;
    assert_eq!(me.status, 200);
    assert_eq!(me.body["user"]["username"], "alice");
    let wrong_header = app
        .call_with(
            "GET",
            "/api/me/",
            &[("cookie", &cookie), ("authorization", "Token not-a-token")],
            None,
        )
        .await;
    assert_error(&wrong_header, 401);
    let (bob, _) = signed_in(&app, "bob").await;
    let header = format!("Token {bob}");
    let both = app
        .call_with(
            "GET",
            "/api/me/",
            &[("cookie", &cookie), ("authorization", &header)],
            None,
        )
        .await;
    assert_eq!(both.body["user"]["username"], "bob", "an explicit header is the caller");
    let other_name = app
        .call_with(
            "GET",
            "/api/me/",
            &[("cookie", &cookie.replace("sessionid", "session"))],
            None,
        )
        .await;
    assert_error(&other_name, 401);
}

#[tokio::test]
async fn cookie_requests_from_foreign_origins_are_refused_and_change_nothing() {
    let app = TestApp::new().await;
    let (token, cookie) = signed_in(&app, "alice").await;
    let evil_referer = format!("{EVIL}/page");
    for headers in [
        vec![("origin", EVIL)],
        vec![("origin", "null")],
        vec![("referer", evil_referer.as_str())],
        vec![("origin", EVIL), ("referer", "http://localhost:5173/")],
    ] {
        let mut all = headers.clone();
        all.push(("cookie", &cookie));
        all.push(("host", OWN));
        let forged = app.call_with("POST", "/chat/threads/new/", &all, None).await;
        assert_eq!(assert_error(&forged, 403), "csrf_failed", "{headers:?}");
        let forged = app.call_with("DELETE", "/auth/delete/", &all, None).await;
        assert_eq!(assert_error(&forged, 403), "csrf_failed");
        let forged = app.call_with("POST", "/auth/logout/", &all, None).await;
        assert_error(&forged, 403);
    }
    let threads = app.call("GET", "/chat/threads/", Some(&token), None).await;
    assert_eq!(threads.body["threads"], json!([]), "no forged thread was made");
    assert_eq!(app.call("GET", "/auth/status/", Some(&token), None).await.status, 200);

    // Reading is not refused (CORS keeps the answer from a foreign page) …
    let read = app
        .call_with("GET", "/chat/threads/", &[("cookie", &cookie), ("origin", EVIL)], None)
        .await;
    assert_eq!(read.status, 200);
    assert_eq!(read.header("access-control-allow-origin"), None);
    assert_eq!(read.header("access-control-allow-credentials"), None);
    // … and a header-authenticated request is not a browser's forgery.
    let header = format!("Token {token}");
    let by_header = app
        .call_with(
            "POST",
            "/chat/threads/new/",
            &[("authorization", &header), ("origin", EVIL)],
            None,
        )
        .await;
    assert_eq!(by_header.status, 201);
}

#[tokio::test]
async fn a_login_posted_from_a_foreign_origin_sets_no_cookie() {
    let app = TestApp::new().await;
    app.register("mallory").await;
    // What another site's `<form enctype="text/plain">` can send.
    let form = r#"{"username": "mallory", "password": "password123", "x": "="}"#;
    for origin in [EVIL, "null"] {
        let headers = [
            ("origin".to_string(), origin.to_string()),
            ("content-type".to_string(), "text/plain".to_string()),
            ("host".to_string(), OWN.to_string()),
        ];
        let forged = app
            .send(
                "POST",
                "/auth/login/",
                headers.into(),
                Some(form.into()),
                "198.51.100.8",
            )
            .await;
        assert_eq!(assert_error(&forged, 403), "csrf_failed", "{origin}");
        assert!(forged.set_cookies().is_empty());
    }
    let allowed = app
        .call_with(
            "POST",
            "/auth/login/",
            &[("origin", CLIENT)],
            Some(json!({"username": "mallory", "password": "password123"})),
        )
        .await;
    assert_eq!(allowed.status, 200);
}

#[tokio::test]
async fn cookie_requests_from_the_api_s_own_or_an_allowed_origin_pass() {
    let app = TestApp::new().await;
    let (_, cookie) = signed_in(&app, "alice").await;
    let own = format!("https://{OWN}");
    let own_referer = format!("https://{OWN}/docs");
    for headers in [
        vec![("origin", own.as_str())],
        vec![("origin", CLIENT)],
        vec![("referer", own_referer.as_str())],
        vec![("sec-fetch-site", "same-origin")],
        vec![("sec-fetch-site", "same-site")],
    ] {
        let mut all = headers.clone();
        all.push(("cookie", &cookie));
        all.push(("host", OWN));
        let created = app.call_with("POST", "/chat/threads/new/", &all, None).await;
        assert_eq!(created.status, 201, "{headers:?}: {}", created.text);
    }
}

#[tokio::test]
async fn cors_answers_credentials_to_named_origins_only_and_never_a_star() {
    let app = TestApp::new().await;
    let preflight = app
        .call_with(
            "OPTIONS",
            "/chat/response/1/",
            &[
                ("origin", CLIENT),
                ("access-control-request-method", "POST"),
                ("access-control-request-headers", "content-type"),
            ],
            None,
        )
        .await;
    assert_eq!(preflight.status, 204);
    assert_eq!(preflight.header("access-control-allow-origin"), Some(CLIENT));
    assert_eq!(preflight.header("access-control-allow-credentials"), Some("true"));
    assert!(preflight
        .header("access-control-allow-methods")
        .is_some_and(|m| m.contains("PUT") && m.contains("DELETE")));
    let foreign = app
        .call_with("OPTIONS", "/chat/response/1/", &[("origin", EVIL)], None)
        .await;
    assert_eq!(foreign.header("access-control-allow-origin"), None);
    assert_eq!(foreign.header("access-control-allow-credentials"), None);

    let starred = TestApp::with_vars(&[("CORS_ALLOWED_ORIGINS", "*")]).await;
    let (_, star_cookie) = signed_in(&starred, "carol").await;
    for method in ["OPTIONS", "GET"] {
        let response = starred
            .call_with(
                method,
                "/chat/threads/",
                &[("origin", EVIL), ("cookie", &star_cookie)],
                None,
            )
            .await;
        assert_eq!(response.header("access-control-allow-credentials"), None, "{method}");
        assert_ne!(response.header("access-control-allow-origin"), Some("*"));
    }
    let forged = starred
        .call_with(
            "POST",
            "/chat/threads/new/",
            &[("origin", EVIL), ("cookie", &star_cookie)],
            None,
        )
        .await;
    assert_eq!(
        assert_error(&forged, 403),
        "csrf_failed",
        "`*` never vouches for a cookie"
    );
}

#[tokio::test]
async fn the_cookie_s_name_and_attributes_come_from_the_settings() {
    let app = TestApp::with_vars(&[
        ("SESSION_COOKIE_NAME", "chat_session"),
        ("SESSION_COOKIE_SAMESITE", "None"),
        ("TOKEN_TTL_DAYS", "2"),
    ])
    .await;
    app.register("dana").await;
    let login = app
        .call(
            "POST",
            "/auth/login/",
            None,
            Some(json!({"username": "dana", "password": "password123"})),
        )
        .await;
    let set = &login.set_cookies()[0];
    let token = login.body["token"].as_str().unwrap();
    assert_eq!(
        set,
        &format!("chat_session={token}; Max-Age=172800; Path=/; HttpOnly; SameSite=None; Secure")
    );
    let named = format!("chat_session={token}");
    assert_eq!(
        app.call_with("GET", "/auth/status/", &[("cookie", &named)], None)
            .await
            .status,
        200
    );
    let default_name = format!("sessionid={token}");
    assert_error(
        &app.call_with("GET", "/auth/status/", &[("cookie", &default_name)], None)
            .await,
        401,
    );
    let logout = app
        .call_with("POST", "/auth/logout/", &[("cookie", &named), ("origin", CLIENT)], None)
        .await;
    assert!(logout.set_cookies()[0].starts_with("chat_session=; Max-Age=0;"));
    assert!(logout.set_cookies()[0].ends_with("SameSite=None; Secure"));

    let lax = TestApp::with_vars(&[("SESSION_COOKIE_SECURE", "false")]).await;
    lax.register("eve").await;
    let login = lax
        .call(
            "POST",
            "/auth/login/",
            None,
            Some(json!({"username": "eve", "password": "password123"})),
        )
        .await;
    assert!(
        login.set_cookies()[0].ends_with("HttpOnly; SameSite=Lax"),
        "no Secure when turned off"
    );
}

#[tokio::test]
async fn a_deactivated_account_s_cookie_is_refused_with_403() {
    let app = TestApp::new().await;
    let root = app.register("root").await;
    chatbot_admin::grant(app.state.store.as_ref(), "root").await.unwrap();
    let (_, cookie) = signed_in(&app, "bob").await;
    assert_eq!(
        app.call("POST", "/auth/deactivate/bob/", Some(&root), None)
            .await
            .status,
        200
    );
    let refused = app
        .call_with("GET", "/auth/status/", &[("cookie", &cookie)], None)
        .await;
    assert_eq!(assert_error(&refused, 403), "account_deactivated");
}

#[tokio::test]
async fn a_cookie_write_without_a_browser_s_proof_of_origin_is_refused() {
    let app = TestApp::new().await;
    let (token, cookie) = signed_in(&app, "alice").await;
    let created = app.call("POST", "/chat/threads/new/", Some(&token), None).await.body["thread_id"]
        .as_i64()
        .unwrap();
    let rename = format!("/chat/threads/{created}/update-title/");
    let delete = format!("/chat/threads/{created}/delete/");
    for headers in [
        vec![],
        vec![("sec-fetch-site", "cross-site")],
        vec![("sec-fetch-site", "none")],
    ] {
        let mut all = headers.clone();
        all.push(("cookie", &cookie));
        all.push(("host", OWN));
        let refused = app.call_with("POST", "/chat/threads/new/", &all, None).await;
        assert_eq!(assert_error(&refused, 403), "csrf_failed", "{headers:?}");
        let refused = app
            .call_with("PUT", &rename, &all, Some(json!({"title": "forged"})))
            .await;
        assert_eq!(assert_error(&refused, 403), "csrf_failed", "{headers:?}");
        let refused = app.call_with("DELETE", &delete, &all, None).await;
        assert_error(&refused, 403);
        let refused = app
            .call_with("PATCH", "/api/me/", &all, Some(json!({"time_zone": "UTC"})))
            .await;
        assert_error(&refused, 403);
    }
    // curl's way: the token in the header, no browser headers at all.
    let by_header = app.call("POST", "/chat/threads/new/", Some(&token), None).await;
    assert_eq!(by_header.status, 201);
    let threads = app.call("GET", "/chat/threads/", Some(&token), None).await;
    let threads = threads.body["threads"].as_array().unwrap().clone();
    assert_eq!(threads.len(), 2, "only the header's thread was added");
    assert!(threads.iter().all(|t| t["title"] != "forged"));
}

#[tokio::test]
async fn a_cookie_write_must_declare_its_body_json_so_it_is_never_a_simple_request() {
    let app = TestApp::new().await;
    let (token, cookie) = signed_in(&app, "alice").await;
    let id = app.call("POST", "/chat/threads/new/", Some(&token), None).await.body["thread_id"]
        .as_i64()
        .unwrap();
    let rename = format!("/chat/threads/{id}/update-title/");
    let body = r#"{"title": "from a form"}"#;
    for content_type in ["text/plain", "application/x-www-form-urlencoded", ""] {
        let mut headers = std::collections::HashMap::from([
            ("cookie".to_string(), cookie.clone()),
            ("origin".to_string(), CLIENT.to_string()),
        ]);
        if !content_type.is_empty() {
            headers.insert("content-type".into(), content_type.into());
        }
        let refused = app
            .send("PUT", &rename, headers, Some(body.into()), "198.51.100.7")
            .await;
        assert_eq!(
            assert_error(&refused, 415),
            "unsupported_media_type",
            "{content_type:?}"
        );
    }
    // E's own leniency stays for the header token, which no other site can send.
    let headers = std::collections::HashMap::from([
        ("authorization".to_string(), format!("Token {token}")),
        ("content-type".to_string(), "text/plain".to_string()),
    ]);
    let renamed = app
        .send("PUT", &rename, headers, Some(body.into()), "198.51.100.7")
        .await;
    assert_eq!(renamed.status, 200, "{}", renamed.text);
    let json = app
        .call_with(
            "PUT",
            &rename,
            &[("cookie", &cookie), ("origin", CLIENT)],
            Some(json!({"title": "by cookie"})),
        )
        .await;
    assert_eq!(json.status, 200, "{}", json.text);
}

#[tokio::test]
async fn logout_with_a_header_and_the_cookie_revokes_both() {
    for path in ["/auth/logout/", "/api/logout/"] {
        let app = TestApp::new().await;
        let (token, cookie) = signed_in(&app, "alice").await;
        let header = format!("Token {token}");
        let logout = app
            .call_with("POST", path, &[("authorization", &header), ("cookie", &cookie)], None)
            .await;
        assert_eq!(logout.status, 200, "{path}: {}", logout.text);
        assert!(logout.set_cookies()[0].starts_with("sessionid=; Max-Age=0;"), "{path}");
        for credentials in [
            vec![("authorization", header.as_str())],
            vec![("cookie", cookie.as_str())],
        ] {
            let after = app.call_with("GET", "/auth/status/", &credentials, None).await;
            assert_error(&after, 401);
        }
    }
}

#[tokio::test]
async fn a_request_carrying_two_session_cookies_is_refused() {
    let app = TestApp::new().await;
    let (token, cookie) = signed_in(&app, "alice").await;
    let (_, planted) = signed_in(&app, "mallory").await;
    let both = format!("{cookie}; {planted}");
    for (method, path) in [("GET", "/auth/status/"), ("POST", "/chat/threads/new/")] {
        let refused = app
            .call_with(method, path, &[("cookie", &both), ("origin", CLIENT)], None)
            .await;
        assert_eq!(
            assert_error(&refused, 400),
            "duplicate_session_cookie",
            "{method} {path}"
        );
    }
    // The header wins as always, and its logout revokes both cookies' tokens.
    let header = format!("Token {token}");
    let logout = app
        .call_with(
            "POST",
            "/auth/logout/",
            &[("authorization", &header), ("cookie", &both)],
            None,
        )
        .await;
    assert_eq!(logout.status, 200, "{}", logout.text);
    for one in [cookie.as_str(), planted.as_str()] {
        assert_error(
            &app.call_with("GET", "/auth/status/", &[("cookie", one)], None).await,
            401,
        );
    }
}

#[tokio::test]
async fn a_host_prefixed_cookie_is_secure_host_only_and_signs_in() {
    let app = TestApp::with_vars(&[("SESSION_COOKIE_NAME", "__Host-sessionid")]).await;
    app.register("dana").await;
    let login = app
        .call(
            "POST",
            "/auth/login/",
            None,
            Some(json!({"username": "dana", "password": "password123"})),
        )
        .await;
    let set = &login.set_cookies()[0];
    let token = login.body["token"].as_str().unwrap();
    assert_eq!(
        set,
        &format!("__Host-sessionid={token}; Max-Age=2592000; Path=/; HttpOnly; SameSite=Lax; Secure")
    );
    assert!(!set.to_ascii_lowercase().contains("domain="));
    let pair = format!("__Host-sessionid={token}");
    let created = app
        .call_with(
            "POST",
            "/chat/threads/new/",
            &[("cookie", &pair), ("origin", CLIENT)],
            None,
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let plain = format!("sessionid={token}");
    assert_error(
        &app.call_with("GET", "/auth/status/", &[("cookie", &plain)], None).await,
        401,
    );
}
