//! The web chat page: `GET /` answers its HTML and `GET /assets/{file}` its
//! stylesheet and script. The files (`shared/web/`) are embedded in the binary.
//! An asset's URL carries a digest of its content, so a changed file gets a new
//! URL: assets are cached for a year as immutable, the HTML (which names them) is
//! revalidated on every load. The page is a client of the canonical API and
//! nothing more, so its Content-Security-Policy lets it load and call only its own
//! origin, and the stream URL's when streaming is served elsewhere (AWS).

use std::sync::OnceLock;

use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::http::call::Call;
use crate::http::reply::Reply;

/// A file the HTML links to, served under its hashed name.
struct Asset {
    /// The name the HTML uses in its `{{…}}` placeholder, e.g. `app.js`.
    name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

const ASSETS: &[Asset] = &[
    Asset {
        name: "app.css",
        content_type: "text/css; charset=utf-8",
        bytes: include_bytes!("../../../web/app.css"),
    },
    Asset {
        name: "app.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../../web/app.js"),
    },
    Asset {
        name: "icon.svg",
        content_type: "image/svg+xml",
        bytes: include_bytes!("../../../web/icon.svg"),
    },
];

const INDEX: &str = include_str!("../../../web/index.html");

const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// `app.js` → `app.3f9c0a1b2d.js`: the first 40 bits of the content's SHA-256,
/// enough that a changed file never keeps its URL by chance.
fn hashed_name(asset: &Asset) -> String {
    let digest = Sha256::digest(asset.bytes);
    let hash: String = digest[..5].iter().map(|b| format!("{b:02x}")).collect();
    match asset.name.rsplit_once('.') {
        Some((stem, ext)) => format!("{stem}.{hash}.{ext}"),
        None => format!("{}.{hash}", asset.name),
    }
}

/// Every asset's hashed name, in [`ASSETS`] order, computed once per process.
fn hashed_names() -> &'static [String] {
    static NAMES: OnceLock<Vec<String>> = OnceLock::new();
    NAMES.get_or_init(|| ASSETS.iter().map(hashed_name).collect())
}

/// The HTML with every `{{name}}` replaced by the asset's URL and
/// `{{stream-url}}` by where to stream from (empty: this origin).
fn render_index(stream_url: Option<&str>) -> String {
    let mut html = INDEX.to_string();
    for (asset, hashed) in ASSETS.iter().zip(hashed_names()) {
        html = html.replace(&format!("{{{{{}}}}}", asset.name), &format!("/assets/{hashed}"));
    }
    html.replace("{{stream-url}}", &escape_attribute(stream_url.unwrap_or("")))
}

/// Text made safe inside a double-quoted HTML attribute.
fn escape_attribute(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// `https://host:port/path` → `https://host:port`.
fn origin_of(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    match url[after_scheme..].find('/') {
        Some(slash) => &url[..after_scheme + slash],
        None => url,
    }
}

/// Only this origin's files, no inline script or style, no plugins, no framing;
/// connections to this origin and the stream URL's.
fn content_security_policy(stream_url: Option<&str>) -> String {
    let connect = match stream_url {
        Some(url) => format!("'self' {}", origin_of(url)),
        None => "'self'".to_string(),
    };
    format!(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src {connect}; \
         object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
}

/// `GET /`: the page.
pub async fn index(call: &Call<'_>) -> Result<Reply, ApiError> {
    let stream_url = call.state.config.stream_url.as_deref();
    Ok(
        Reply::file("text/html; charset=utf-8", render_index(stream_url).into_bytes())
            .with_header("cache-control", "no-cache")
            .with_header("content-security-policy", content_security_policy(stream_url))
            .with_header("x-content-type-options", "nosniff")
            .with_header("referrer-policy", "no-referrer"),
    )
}

/// `GET /assets/{file}`: a file the page links to, by its hashed name; any other
/// name (an old hash included) is a 404.
pub async fn asset(call: &Call<'_>) -> Result<Reply, ApiError> {
    let file = call.path_param("file");
    let (asset, _) = ASSETS
        .iter()
        .zip(hashed_names())
        .find(|(_, hashed)| hashed.as_str() == file)
        .ok_or_else(|| ApiError::not_found("No such file."))?;
    Ok(Reply::file(asset.content_type, asset.bytes)
        .with_header("cache-control", IMMUTABLE)
        .with_header("x-content-type-options", "nosniff"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_html_names_every_asset_by_its_hashed_url_and_keeps_no_placeholder() {
        let html = render_index(None);
        for hashed in hashed_names() {
            assert!(html.contains(&format!("/assets/{hashed}")), "{hashed}");
        }
        assert!(!html.contains("{{"), "a placeholder is left: {html}");
        assert!(html.contains(r#"content="""#), "no stream URL: this origin");
    }

    #[test]
    fn a_hashed_name_changes_with_the_content() {
        let a = Asset {
            name: "app.js",
            content_type: "text/javascript",
            bytes: b"one",
        };
        let b = Asset { bytes: b"two", ..a };
        let (name_a, name_b) = (hashed_name(&a), hashed_name(&b));
        assert_ne!(name_a, name_b);
        assert!(name_a.starts_with("app.") && name_a.ends_with(".js"), "{name_a}");
        assert_eq!(name_a.len(), "app..js".len() + 10);
    }

    #[test]
    fn the_stream_url_is_escaped_and_its_origin_allowed() {
        let html = render_index(Some("https://x.example/a\"><script>"));
        assert!(html.contains("https://x.example/a&quot;&gt;&lt;script&gt;"));
        assert!(!html.contains("<script>\""));
        let csp = content_security_policy(Some("https://abc.lambda-url.us-east-1.on.aws"));
        assert!(
            csp.contains("connect-src 'self' https://abc.lambda-url.us-east-1.on.aws;"),
            "{csp}"
        );
        assert_eq!(origin_of("http://127.0.0.1:9000/api/x"), "http://127.0.0.1:9000");
        let local = content_security_policy(None);
        assert!(
            local.contains("connect-src 'self';") && local.contains("script-src 'self';"),
            "{local}"
        );
        assert!(!local.contains("unsafe-inline"));
    }
}
