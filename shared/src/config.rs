//! Typed settings read once from the environment at start-up (API.md §5).
//!
//! Every value has a default that works on a laptop, and every malformed value stops
//! the process at start with a message naming the variable: a function that starts is
//! a function whose settings are valid, so handlers never read the environment.

use chrono_tz::Tz;
use std::collections::HashMap;
use std::path::PathBuf;
use std::str::FromStr;

/// Which storage backend the functions use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreKind {
    Sqlite,
    DynamoDb,
}

/// The session cookie's `SameSite` attribute (`SESSION_COOKIE_SAMESITE`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SameSite {
    /// Sent on top-level navigations from other sites, not on their fetches: a web
    /// client on the API's own site (another port counts as the same site).
    Lax,
    Strict,
    /// Sent on every request, other sites' fetches included: a web client on
    /// another site. Browsers take it only with `Secure`.
    None,
}

impl SameSite {
    pub fn as_str(self) -> &'static str {
        match self {
            SameSite::Lax => "Lax",
            SameSite::Strict => "Strict",
            SameSite::None => "None",
        }
    }
}

pub use chatbot_llm::flan_t5::{FlanT5Quantize, Settings as FlanT5Settings};

/// The cookie of cookie authentication (API.md §4, dialect E): its name and
/// attributes. It is always `HttpOnly` and `Path=/`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionCookie {
    pub name: String,
    pub same_site: SameSite,
    pub secure: bool,
}

/// The key pagination cursors are signed with (`CURSOR_KEY`, see `http::cursor`).
/// Its `Debug` never shows it, so logging the configuration cannot leak it.
#[derive(Clone)]
pub struct CursorKey(Vec<u8>);

impl CursorKey {
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Self(bytes.into())
    }

    pub fn bytes(&self) -> &[u8] {
        &self.0
    }

    /// 256 random bits, for a process that was given no key: its cursors then work
    /// only with itself (enough for tests and a single local process).
    pub fn random() -> Self {
        let mut bytes = Vec::with_capacity(32);
        bytes.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
        bytes.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
        Self(bytes)
    }
}

impl std::fmt::Debug for CursorKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CursorKey(..)")
    }
}

#[derive(Clone, Debug)]
pub struct Config {
    pub store: StoreKind,
    pub sqlite_path: PathBuf,
    pub table_name: String,
    pub secret_id: Option<String>,
    pub default_provider: String,
    pub default_model: String,
    /// `FLAN_T5_MODEL`, `FLAN_T5_DIR` and `FLAN_T5_QUANTIZE` (f32, q8_0 or q4k:
    /// exact f32 unless asked), read by the inference function the same way.
    pub flan_t5: FlanT5Settings,
    pub inference_function: Option<String>,
    pub provider_timeout_secs: u64,
    pub initial_tokens: i64,
    pub tokens_per_request: i64,
    /// `PENDING_CHARGE_SECS`: how long a reply's charge stays pending (`store::Hold`)
    /// before a failure is taken for certain and it is refunded. The default is
    /// Lambda's longest invocation (900 s): a request is surely over by then, whatever
    /// its function's timeout.
    pub pending_charge_secs: i64,
    /// `DYNAMODB_TIMEOUT_MS`: how long one DynamoDB request may take, retries
    /// included, before the store counts as unavailable (503). 5 s suits DynamoDB;
    /// a local emulator under load (moto in the test run) needs more.
    pub dynamodb_timeout_ms: u64,
    pub rate_limit_per_minute: u32,
    pub auth_rate_limit_per_minute: u32,
    /// `WRITE_RATE_LIMIT_PER_MINUTE`: changes (chats, threads, the account) and
    /// searches per user, one window for every route and dialect.
    pub write_rate_limit_per_minute: u32,
    pub context_messages: usize,
    /// `MAX_REPLY_TOKENS`: the most tokens any reply may have (API.md §6). Sent to
    /// every provider on every model call; a request's `max_tokens` is clamped to it.
    pub max_reply_tokens: u32,
    pub display_time_zone: Tz,
    pub token_ttl_days: i64,
    pub cors_allowed_origins: Vec<String>,
    pub cursor_key: CursorKey,
    /// `CURSOR_KEY_SECRET_ID`: the Secrets Manager secret (`{"CURSOR_KEY": "…"}`)
    /// the cursor key is read from when a list is first paged, as in AWS, where
    /// no function's environment holds it. `CURSOR_KEY`, when set, wins.
    pub cursor_key_secret_id: Option<String>,
    /// `STREAM_URL`: where the web page sends `POST /api/chats/stream/` when that
    /// route is not on the page's own origin (in AWS, the stream function's URL);
    /// unset, the page streams from its own origin, as locally.
    pub stream_url: Option<String>,
    pub session_cookie: SessionCookie,
    pub openai_base_url: String,
    pub gemini_base_url: String,
    /// `None` unless `OLLAMA_HOST` is set: an Ollama server is opt-in, so a laptop
    /// without one does not list its models as available.
    pub ollama_host: Option<String>,
    pub openai_models: Vec<String>,
    pub gemini_models: Vec<String>,
    pub ollama_models: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("invalid setting {name}={value:?}: {reason}")]
pub struct ConfigError {
    pub name: &'static str,
    pub value: String,
    pub reason: String,
}

pub use chatbot_llm::{DEFAULT_MAX_REPLY_TOKENS, MAX_REPLY_TOKENS_LIMIT};

/// The default of `DYNAMODB_TIMEOUT_MS`.
pub const DEFAULT_DYNAMODB_TIMEOUT_MS: u64 = 5_000;

impl Config {
    /// `DYNAMODB_TIMEOUT_MS` as a duration.
    pub fn dynamodb_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.dynamodb_timeout_ms)
    }

    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(std::env::vars().collect())
    }

    /// Reads settings from a map, so tests can build configurations without touching
    /// the (process-global) environment.
    pub fn from_vars(vars: HashMap<String, String>) -> Result<Self, ConfigError> {
        let env = Env(vars);
        let store = match env.text("STORE", "sqlite").to_ascii_lowercase().as_str() {
            "sqlite" => StoreKind::Sqlite,
            "dynamodb" => StoreKind::DynamoDb,
            other => return Err(env.bad("STORE", other, "expected sqlite or dynamodb")),
        };
        // Admins were once named by this setting, which let whoever registered a
        // listed name first become one. It is refused rather than ignored, so a
        // deployment that still sets it learns that its admins must be granted.
        if let Some(names) = env.optional("ADMIN_USERNAMES") {
            return Err(env.bad(
                "ADMIN_USERNAMES",
                &names,
                "no longer read: admin is a role stored on the account; grant it with \
                 `chatbot-admin grant USERNAME` (docs/operations.md, Admins) and remove this setting",
            ));
        }
        let display_time_zone = {
            let name = env.text("DISPLAY_TIME_ZONE", "Asia/Karachi");
            Tz::from_str(&name).map_err(|_| env.bad("DISPLAY_TIME_ZONE", &name, "not an IANA time zone"))?
        };
        let config = Config {
            store,
            sqlite_path: PathBuf::from(env.text("SQLITE_PATH", "./chatbot.sqlite3")),
            table_name: env.text("TABLE_NAME", "chatbot"),
            secret_id: env.optional("SECRET_ID"),
            default_provider: env.text("DEFAULT_PROVIDER", "flan-t5"),
            default_model: env.text("DEFAULT_MODEL", "flan-t5-base"),
            flan_t5: FlanT5Settings::read(|name| env.optional(name))
                .map_err(|bad| env.bad(bad.name, &bad.value, bad.reason))?,
            inference_function: env.optional("INFERENCE_FUNCTION"),
            provider_timeout_secs: env.number("PROVIDER_TIMEOUT_SECS", 60, 1..=900)?,
            initial_tokens: env.number("INITIAL_TOKENS", 4000, 0..=i64::MAX)?,
            tokens_per_request: env.number("TOKENS_PER_REQUEST", 100, 0..=i64::MAX)?,
            pending_charge_secs: env.number("PENDING_CHARGE_SECS", 900, 1..=86_400)?,
            dynamodb_timeout_ms: env.number("DYNAMODB_TIMEOUT_MS", DEFAULT_DYNAMODB_TIMEOUT_MS, 100..=600_000)?,
            rate_limit_per_minute: env.number("RATE_LIMIT_PER_MINUTE", 30, 1..=u32::MAX)?,
            auth_rate_limit_per_minute: env.number("AUTH_RATE_LIMIT_PER_MINUTE", 10, 1..=u32::MAX)?,
            write_rate_limit_per_minute: env.number("WRITE_RATE_LIMIT_PER_MINUTE", 60, 1..=u32::MAX)?,
            context_messages: env.number("CONTEXT_MESSAGES", 20, 1..=1000)?,
            max_reply_tokens: env.number("MAX_REPLY_TOKENS", DEFAULT_MAX_REPLY_TOKENS, 1..=MAX_REPLY_TOKENS_LIMIT)?,
            display_time_zone,
            token_ttl_days: env.number("TOKEN_TTL_DAYS", 30, 1..=3650)?,
            cors_allowed_origins: env.list("CORS_ALLOWED_ORIGINS", "http://localhost:5173"),
            cursor_key: env.cursor_key()?,
            cursor_key_secret_id: env
                .optional("CURSOR_KEY_SECRET_ID")
                .filter(|_| env.optional("CURSOR_KEY").is_none()),
            stream_url: env
                .optional("STREAM_URL")
                .map(|_| env.url("STREAM_URL", ""))
                .transpose()?,
            session_cookie: env.session_cookie()?,
            openai_base_url: env.url("OPENAI_BASE_URL", "https://api.openai.com/v1")?,
            gemini_base_url: env.url("GEMINI_BASE_URL", "https://generativelanguage.googleapis.com")?,
            ollama_host: env
                .optional("OLLAMA_HOST")
                .map(|_| env.url("OLLAMA_HOST", ""))
                .transpose()?,
            openai_models: env.list("OPENAI_MODELS", "gpt-4o-mini"),
            gemini_models: env.list("GEMINI_MODELS", "gemini-1.5-flash"),
            ollama_models: env.list("OLLAMA_MODELS", "llama3"),
        };
        Ok(config)
    }

    /// The settings a fresh laptop gets: every default of API.md §5.
    pub fn defaults() -> Self {
        Self::from_vars(HashMap::new()).expect("the defaults are valid")
    }
}

struct Env(HashMap<String, String>);

impl Env {
    /// A set but blank variable counts as unset, as shells and `.env` files often
    /// leave `NAME=` behind.
    fn optional(&self, name: &str) -> Option<String> {
        self.0.get(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
    }

    fn text(&self, name: &str, default: &str) -> String {
        self.optional(name).unwrap_or_else(|| default.to_string())
    }

    fn list(&self, name: &str, default: &str) -> Vec<String> {
        self.text(name, default)
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(String::from)
            .collect()
    }

    /// An http(s) URL without its trailing slash, so paths can be appended.
    fn url(&self, name: &'static str, default: &str) -> Result<String, ConfigError> {
        let value = self.text(name, default);
        if !(value.starts_with("http://") || value.starts_with("https://")) {
            return Err(self.bad(name, &value, "must start with http:// or https://"));
        }
        Ok(value.trim_end_matches('/').to_string())
    }

    fn number<T>(&self, name: &'static str, default: T, range: std::ops::RangeInclusive<T>) -> Result<T, ConfigError>
    where
        T: FromStr + PartialOrd + std::fmt::Display + Copy,
    {
        let Some(raw) = self.optional(name) else {
            return Ok(default);
        };
        let value: T = raw.parse().map_err(|_| self.bad(name, &raw, "not a whole number"))?;
        if !range.contains(&value) {
            let reason = format!("must be between {} and {}", range.start(), range.end());
            return Err(self.bad(name, &raw, &reason));
        }
        Ok(value)
    }

    fn flag(&self, name: &'static str, default: bool) -> Result<bool, ConfigError> {
        let Some(raw) = self.optional(name) else {
            return Ok(default);
        };
        match raw.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => Ok(true),
            "false" | "0" | "no" => Ok(false),
            _ => Err(self.bad(name, &raw, "expected true or false")),
        }
    }

    /// `CURSOR_KEY`: every process that serves a list must share it (the template
    /// sets it from a generated secret). Unset, a process signs with a random key
    /// of its own, which serves one process (tests, a single local function).
    fn cursor_key(&self) -> Result<CursorKey, ConfigError> {
        match self.optional("CURSOR_KEY") {
            None => Ok(CursorKey::random()),
            Some(key) if key.len() < 32 => Err(self.bad("CURSOR_KEY", "(hidden)", "must be at least 32 characters")),
            Some(key) => Ok(CursorKey::new(key.into_bytes())),
        }
    }

    fn session_cookie(&self) -> Result<SessionCookie, ConfigError> {
        let name = self.text("SESSION_COOKIE_NAME", "sessionid");
        // A cookie name is an RFC 6265 token: no separators, spaces or controls.
        let token = |c: char| c.is_ascii_graphic() && !"()<>@,;:\\\"/[]?={}".contains(c);
        if !name.chars().all(token) {
            return Err(self.bad(
                "SESSION_COOKIE_NAME",
                &name,
                "a cookie name is letters, digits and !#$%&'*+-.^_`|~ only",
            ));
        }
        let raw = self.text("SESSION_COOKIE_SAMESITE", "Lax");
        let same_site = match raw.to_ascii_lowercase().as_str() {
            "lax" => SameSite::Lax,
            "strict" => SameSite::Strict,
            "none" => SameSite::None,
            _ => return Err(self.bad("SESSION_COOKIE_SAMESITE", &raw, "expected Lax, Strict or None")),
        };
        let secure = self.flag("SESSION_COOKIE_SECURE", true)?;
        // Browsers take a `__Host-` cookie only when it is Secure, has Path=/ and no
        // Domain (so no sibling subdomain can set or shadow it), and a `__Secure-`
        // one only when Secure. The cookie always has Path=/ and no Domain.
        let lower = name.to_ascii_lowercase();
        if !secure && (lower.starts_with("__host-") || lower.starts_with("__secure-")) {
            return Err(self.bad(
                "SESSION_COOKIE_SECURE",
                "false",
                "a SESSION_COOKIE_NAME starting with __Host- or __Secure- needs a Secure cookie: browsers drop it otherwise",
            ));
        }
        if same_site == SameSite::None && !secure {
            return Err(self.bad(
                "SESSION_COOKIE_SECURE",
                "false",
                "SESSION_COOKIE_SAMESITE=None needs a Secure cookie: browsers drop it otherwise",
            ));
        }
        Ok(SessionCookie {
            name,
            same_site,
            secure,
        })
    }

    fn bad(&self, name: &'static str, value: &str, reason: &str) -> ConfigError {
        ConfigError {
            name,
            value: value.to_string(),
            reason: reason.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn defaults_follow_the_contract() {
        let config = Config::defaults();
        assert_eq!(config.store, StoreKind::Sqlite);
        assert_eq!(config.initial_tokens, 4000);
        assert_eq!(config.tokens_per_request, 100);
        assert_eq!(config.rate_limit_per_minute, 30);
        assert_eq!(config.auth_rate_limit_per_minute, 10);
        assert_eq!(config.write_rate_limit_per_minute, 60);
        assert_eq!(config.display_time_zone, chrono_tz::Asia::Karachi);
        assert_eq!(config.cors_allowed_origins, vec!["http://localhost:5173"]);
        assert_eq!(config.default_provider, "flan-t5");
        assert_eq!(config.max_reply_tokens, 1024);
        assert_eq!(
            config.session_cookie,
            SessionCookie {
                name: "sessionid".into(),
                same_site: SameSite::Lax,
                secure: true
            }
        );
    }

    #[test]
    fn session_cookie_settings_are_checked() {
        let config = Config::from_vars(vars(&[
            ("SESSION_COOKIE_NAME", "sid"),
            ("SESSION_COOKIE_SAMESITE", "none"),
            ("SESSION_COOKIE_SECURE", "TRUE"),
        ]))
        .unwrap();
        assert_eq!(config.session_cookie.name, "sid");
        assert_eq!(config.session_cookie.same_site, SameSite::None);
        let config = Config::from_vars(vars(&[
            ("SESSION_COOKIE_SAMESITE", "Strict"),
            ("SESSION_COOKIE_SECURE", "false"),
        ]))
        .unwrap();
        assert_eq!(config.session_cookie.same_site, SameSite::Strict);
        assert!(!config.session_cookie.secure);
        for (name, value) in [
            ("SESSION_COOKIE_SAMESITE", "sometimes"),
            ("SESSION_COOKIE_SECURE", "maybe"),
            ("SESSION_COOKIE_NAME", "session id"),
            ("SESSION_COOKIE_NAME", "a=b"),
        ] {
            let err = Config::from_vars(vars(&[(name, value)])).unwrap_err();
            assert_eq!(err.name, name, "{value}");
        }
        let err = Config::from_vars(vars(&[
            ("SESSION_COOKIE_SAMESITE", "None"),
            ("SESSION_COOKIE_SECURE", "false"),
        ]))
        .unwrap_err();
        assert_eq!(err.name, "SESSION_COOKIE_SECURE");
        let config = Config::from_vars(vars(&[("SESSION_COOKIE_NAME", "__Host-sessionid")])).unwrap();
        assert_eq!(config.session_cookie.name, "__Host-sessionid");
        assert!(config.session_cookie.secure);
        for name in ["__Host-sessionid", "__host-sid", "__Secure-sid"] {
            let err = Config::from_vars(vars(&[
                ("SESSION_COOKIE_NAME", name),
                ("SESSION_COOKIE_SECURE", "false"),
            ]))
            .unwrap_err();
            assert_eq!(err.name, "SESSION_COOKIE_SECURE", "{name}");
            assert!(err.reason.contains("__Host-"), "{}", err.reason);
        }
    }

    #[test]
    fn values_are_parsed_and_trimmed() {
        let config = Config::from_vars(vars(&[
            ("STORE", "DynamoDB"),
            ("OPENAI_MODELS", " a , b,,"),
            ("TOKENS_PER_REQUEST", "7"),
            ("SECRET_ID", "  "),
        ]))
        .unwrap();
        assert_eq!(config.store, StoreKind::DynamoDb);
        assert_eq!(config.openai_models, vec!["a", "b"]);
        assert_eq!(config.tokens_per_request, 7);
        assert_eq!(config.secret_id, None);
    }

    #[test]
    fn admin_usernames_is_refused_with_what_to_do_instead() {
        let err = Config::from_vars(vars(&[("ADMIN_USERNAMES", "root")])).unwrap_err();
        assert_eq!(err.name, "ADMIN_USERNAMES");
        assert!(err.reason.contains("chatbot-admin grant"), "{}", err.reason);
        // Left blank, as `.env` files do, it is unset.
        assert!(Config::from_vars(vars(&[("ADMIN_USERNAMES", " ")])).is_ok());
    }

    #[test]
    fn malformed_values_name_the_variable() {
        let err = Config::from_vars(vars(&[("RATE_LIMIT_PER_MINUTE", "lots")])).unwrap_err();
        assert_eq!(err.name, "RATE_LIMIT_PER_MINUTE");
        let err = Config::from_vars(vars(&[("RATE_LIMIT_PER_MINUTE", "0")])).unwrap_err();
        assert!(err.reason.contains("between"));
        let err = Config::from_vars(vars(&[("DISPLAY_TIME_ZONE", "Mars/Olympus")])).unwrap_err();
        assert_eq!(err.name, "DISPLAY_TIME_ZONE");
        let err = Config::from_vars(vars(&[("STORE", "postgres")])).unwrap_err();
        assert_eq!(err.name, "STORE");
        let err = Config::from_vars(vars(&[("FLAN_T5_QUANTIZE", "q2")])).unwrap_err();
        assert_eq!(err.name, "FLAN_T5_QUANTIZE");
        let config = Config::from_vars(vars(&[("FLAN_T5_QUANTIZE", "q8_0")])).unwrap();
        assert_eq!(config.flan_t5.quantize, FlanT5Quantize::Q8_0);
        let config = Config::from_vars(vars(&[("FLAN_T5_QUANTIZE", " Q4_K ")])).unwrap();
        assert_eq!(config.flan_t5.quantize, FlanT5Quantize::Q4K);
        assert_eq!(Config::defaults().flan_t5.quantize, FlanT5Quantize::F32);
        let err = Config::from_vars(vars(&[("OPENAI_BASE_URL", "api.openai.com")])).unwrap_err();
        assert_eq!(err.name, "OPENAI_BASE_URL");
        for bad in ["0", "-5", "lots", "1000000"] {
            let err = Config::from_vars(vars(&[("MAX_REPLY_TOKENS", bad)])).unwrap_err();
            assert_eq!(err.name, "MAX_REPLY_TOKENS", "{bad}");
        }
        let config = Config::from_vars(vars(&[("MAX_REPLY_TOKENS", "64")])).unwrap();
        assert_eq!(config.max_reply_tokens, 64);
    }

    #[test]
    fn provider_endpoints_and_models() {
        let config = Config::defaults();
        assert_eq!(config.openai_base_url, "https://api.openai.com/v1");
        assert_eq!(config.ollama_host, None);
        assert_eq!(config.gemini_models, vec!["gemini-1.5-flash"]);
        let config = Config::from_vars(vars(&[
            ("OLLAMA_HOST", "http://127.0.0.1:11434/"),
            ("OPENAI_MODELS", "gpt-4o-mini, gpt-4o"),
        ]))
        .unwrap();
        assert_eq!(config.ollama_host.as_deref(), Some("http://127.0.0.1:11434"));
        assert_eq!(config.openai_models, vec!["gpt-4o-mini", "gpt-4o"]);
    }

    #[test]
    fn a_cursor_key_is_long_enough_and_never_echoed() {
        let key = "k".repeat(31);
        let err = Config::from_vars(vars(&[("CURSOR_KEY", &key)])).unwrap_err();
        assert_eq!(err.name, "CURSOR_KEY");
        assert!(!err.to_string().contains(&key));
        let key = "k".repeat(32);
        let config = Config::from_vars(vars(&[("CURSOR_KEY", &key)])).unwrap();
        assert_eq!(config.cursor_key.bytes(), key.as_bytes());
        // Unset: each configuration gets its own random key.
        assert_ne!(
            Config::defaults().cursor_key.bytes(),
            Config::defaults().cursor_key.bytes()
        );
    }
}
