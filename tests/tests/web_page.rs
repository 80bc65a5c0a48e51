//! The web chat page as the API serves it (`GET /`, `GET /assets/{file}`): media
//! types, caching, the Content-Security-Policy, and JSON errors for everything
//! else. What the page does in a browser is `tests/browser/chat_page.py`'s.

use chatbot_tests::{assert_error, TestApp};

/// The `/assets/…` URLs the HTML links to.
fn asset_urls(html: &str) -> Vec<String> {
    html.split('"')
        .filter(|part| part.starts_with("/assets/"))
        .map(String::from)
        .collect()
}

#[tokio::test]
async fn the_page_is_html_revalidated_on_every_load_under_a_strict_policy() {
    let app = TestApp::new().await;
    for path in ["/", "/?tz=Europe/Paris"] {
        let page = app.call("GET", path, None, None).await;
        assert_eq!(page.status, 200, "{path}");
        assert_eq!(page.header("content-type"), Some("text/html; charset=utf-8"));
        assert_eq!(page.header("cache-control"), Some("no-cache"));
        let csp = page.header("content-security-policy").unwrap();
        for directive in [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "connect-src 'self';",
            "frame-ancestors 'none'",
        ] {
            assert!(csp.contains(directive), "{directive} in {csp}");
        }
        assert!(!csp.contains("unsafe"), "{csp}");
        assert!(page.text.starts_with("<!doctype html>"), "{}", page.text);
        assert!(page.text.contains(r#"<meta name="stream-url" content="">"#));
    }
}

/// A share link's page is the same page under the same policy: its script shows
/// the snapshot without signing in (tests/browser/chat_page.py walks that).
#[tokio::test]
async fn a_share_links_page_is_the_same_page_under_the_same_policy() {
    let app = TestApp::new().await;
    let root = app.call("GET", "/", None, None).await;
    let shared = app
        .call("GET", &format!("/s/{}", chatbot_tests::SOME_SHARE_ID), None, None)
        .await;
    assert_eq!(shared.status, 200, "{}", shared.text);
    assert_eq!(shared.text, root.text);
    for header in [
        "content-type",
        "cache-control",
        "content-security-policy",
        "referrer-policy",
    ] {
        assert_eq!(shared.header(header), root.header(header), "{header}");
    }
}

#[tokio::test]
async fn assets_are_served_by_hashed_name_as_immutable_with_their_media_types() {
    let app = TestApp::new().await;
    let html = app.call("GET", "/", None, None).await.text;
    let urls = asset_urls(&html);
    let mut types: Vec<String> = Vec::new();
    for url in &urls {
        let asset = app.call("GET", url, None, None).await;
        assert_eq!(asset.status, 200, "{url}");
        assert_eq!(
            asset.header("cache-control"),
            Some("public, max-age=31536000, immutable"),
            "{url}"
        );
        assert_eq!(asset.header("x-content-type-options"), Some("nosniff"));
        assert!(!asset.text.is_empty(), "{url}");
        types.push(asset.header("content-type").unwrap().to_string());
    }
    types.sort();
    types.dedup();
    assert_eq!(
        types,
        [
            "image/svg+xml",
            "text/css; charset=utf-8",
            "text/javascript; charset=utf-8"
        ],
        "{urls:?}"
    );
}

#[tokio::test]
async fn unknown_or_unhashed_asset_names_and_other_methods_are_json_errors() {
    let app = TestApp::new().await;
    let html = app.call("GET", "/", None, None).await.text;
    let script = asset_urls(&html).into_iter().find(|u| u.ends_with(".js")).unwrap();
    // A name whose hash is not the content's (an old version, or a guess) is a 404.
    let stale = script.replacen('.', ".0", 1);
    for path in ["/assets/app.js", "/assets/nothing", stale.as_str()] {
        let response = app.call("GET", path, None, None).await;
        assert_eq!(assert_error(&response, 404), "not_found", "{path}");
    }
    let response = app.call("POST", "/", None, None).await;
    assert_eq!(assert_error(&response, 405), "method_not_allowed");
    assert_eq!(response.header("allow"), Some("GET"));
    let response = app.call("DELETE", &script, None, None).await;
    assert_eq!(assert_error(&response, 405), "method_not_allowed");
}

#[tokio::test]
async fn a_stream_url_elsewhere_is_named_in_the_page_and_allowed_by_its_policy() {
    let app = TestApp::with_vars(&[("STREAM_URL", "https://abc.lambda-url.us-east-1.on.aws/")]).await;
    let page = app.call("GET", "/", None, None).await;
    assert!(page
        .text
        .contains(r#"<meta name="stream-url" content="https://abc.lambda-url.us-east-1.on.aws">"#));
    let csp = page.header("content-security-policy").unwrap();
    assert!(
        csp.contains("connect-src 'self' https://abc.lambda-url.us-east-1.on.aws;"),
        "{csp}"
    );
}

#[tokio::test]
async fn a_stream_url_that_is_not_http_stops_the_start() {
    let vars = std::collections::HashMap::from([("STREAM_URL".to_string(), "ftp://x".to_string())]);
    let err = chatbot_core::config::Config::from_vars(vars).unwrap_err();
    assert_eq!(err.name, "STREAM_URL");
}

/// The budget is 100 KB gzipped; uncompressed bytes bound that from above, so
/// this needs no gzip at hand (docs/web-page.md gives the gzipped figure).
#[tokio::test]
async fn the_page_and_its_assets_stay_under_100_kb_even_uncompressed() {
    let app = TestApp::new().await;
    let html = app.call("GET", "/", None, None).await.text;
    let mut total = html.len();
    for url in asset_urls(&html) {
        total += app.call("GET", &url, None, None).await.text.len();
    }
    assert!(total < 100 * 1024, "{total} bytes");
}
