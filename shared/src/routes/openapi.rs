//! The OpenAPI 3.1 document, built from the route table (each entry's summary,
//! access, limit and [`Doc`](crate::routes::Doc)) and the API types' derived
//! schemas, so every API route that exists is documented and nothing else is (the
//! web page's routes are a client of the API, not part of it: see `Route::page`).

use std::sync::OnceLock;

use serde_json::Value;
use utoipa::openapi::path::{OperationBuilder, ParameterBuilder, ParameterIn};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::{ArrayBuilder, KnownFormat, ObjectBuilder, SchemaFormat, Type};
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::tag::TagBuilder;
use utoipa::openapi::{
    ComponentsBuilder, Content, HttpMethod, InfoBuilder, OpenApiBuilder, PathItem, PathsBuilder, RefOr, Required,
    ResponseBuilder, Schema,
};

use crate::error::ApiError;
use crate::http::call::Call;
use crate::http::pagination::MAX_LIMIT;
use crate::http::reply::Reply;
use crate::http::route::{handler, Route};
use crate::routes::{json, Access, Body, Errors, Limit, Surface, DOCUMENTED_ROUTES};
use crate::surfaces::shapes::{ErrorBody, OpenAiErrorBody};

/// `GET /api/openapi.json`.
/// The document's own route, of the service surface: it lives with the routing
/// because it reads the whole table (as [`DOCUMENTED_ROUTES`], without the
/// handlers, so `get-openapi` links none of them).
pub const DOCUMENT_ROUTE: Route = Route::new("GET", "/api/openapi.json", "get-openapi", handler!(serve))
    .surface(Surface::Service)
    .summary("This document")
    .public()
    .response(200, crate::http::route::described("This document."));

pub async fn serve(_call: &Call<'_>) -> Result<Reply, ApiError> {
    Reply::ok(document())
}

/// The document as JSON, built once per process.
pub fn document() -> &'static Value {
    static DOCUMENT: OnceLock<Value> = OnceLock::new();
    DOCUMENT.get_or_init(|| {
        let mut doc = serde_json::to_value(build()).expect("an OpenAPI document serializes");
        state_requirements(&mut doc);
        doc
    })
}

/// What the handlers require that a derived schema cannot say: one field or
/// another (a message unless the session ends; a username or an email; a title
/// or an end to a chat), and a
/// body at all where it has required fields or is one of several documents (an
/// absent body reads as `{}`).
fn state_requirements(doc: &mut Value) {
    let present = |field: &str| serde_json::json!({"required": [field], "properties": {field: {"type": "string", "pattern": "\\S"}}});
    let either = [
        (
            "SendChatRequest",
            serde_json::json!([present("content"), {"required": ["end_session"], "properties": {"end_session": {"const": true}}}]),
        ),
        (
            "LoginRequest",
            serde_json::json!([present("username"), present("email")]),
        ),
        (
            "UpdateChatRequest",
            serde_json::json!([
                {"required": ["title"], "properties": {"title": {"type": "string"}}},
                {"required": ["end_session"], "properties": {"end_session": {"type": "boolean"}}},
            ]),
        ),
    ];
    for (name, any_of) in either {
        doc["components"]["schemas"][name]["anyOf"] = any_of;
    }
    let schemas = doc["components"]["schemas"].clone();
    let needs_fields = |body: &Value| {
        let name = body["content"]["application/json"]["schema"]["$ref"]
            .as_str()
            .and_then(|r| r.strip_prefix("#/components/schemas/"));
        name.is_some_and(|name| {
            let schema = &schemas[name];
            schema["required"].as_array().is_some_and(|r| !r.is_empty())
                || schema.get("anyOf").is_some()
                || schema.get("oneOf").is_some()
        })
    };
    for item in doc["paths"]
        .as_object_mut()
        .into_iter()
        .flat_map(|paths| paths.values_mut())
    {
        for op in item.as_object_mut().into_iter().flat_map(|ops| ops.values_mut()) {
            if let Some(body) = op.get_mut("requestBody") {
                if needs_fields(body) {
                    body["required"] = Value::Bool(true);
                }
            }
        }
    }
}

/// A JSON body's schema: a registered component's reference, an array of one, or a
/// described object.
fn schema(body: Body, components: &mut Vec<(String, RefOr<Schema>)>) -> RefOr<Schema> {
    match body {
        Body::Json(component) => component(components),
        Body::ListOf(component) => ArrayBuilder::new().items(component(components)).build().into(),
        Body::Described(text) | Body::Media(_, text) => described(text),
    }
}

/// A success response with its body under each media type it comes in.
fn success(body: Option<Body>, components: &mut Vec<(String, RefOr<Schema>)>) -> ResponseBuilder {
    let mut response = ResponseBuilder::new().description("Success.");
    match body {
        None => {}
        Some(Body::Media(media_types, text)) => {
            for media_type in media_types {
                let schema = match *media_type {
                    "application/json" => described(text),
                    // One server-sent event: its name (OpenAI's have none) and data.
                    "text/event-stream" => ObjectBuilder::new()
                        .description(Some(text))
                        .property("event", string_schema())
                        .property("data", string_schema())
                        .required("data")
                        .build()
                        .into(),
                    _ => ObjectBuilder::new()
                        .schema_type(Type::String)
                        .description(Some(text))
                        .build()
                        .into(),
                };
                response = response.content(*media_type, Content::new(Some(schema)));
            }
        }
        Some(body) => {
            response = response.content("application/json", Content::new(Some(schema(body, components))));
        }
    }
    response
}

fn described(text: &str) -> RefOr<Schema> {
    ObjectBuilder::new().description(Some(text)).build().into()
}

fn string_schema() -> RefOr<Schema> {
    ObjectBuilder::new().schema_type(Type::String).build().into()
}

/// The name of the component every `tz` parameter refers to.
const TIME_ZONE: &str = "TimeZone";

/// An IANA zone name, as `tz` and the profile's `time_zone` take: a string the
/// server checks against the tz database it was built with. Not the list itself
/// (some 600 names, with aliases such as `GMT0` that clash as enum keys in
/// generated clients): its shape, examples and where the names are listed.
fn time_zone_schema() -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .format(Some(SchemaFormat::Custom(TIME_ZONE_FORMAT.into())))
        .min_length(Some(1))
        .max_length(Some(TIME_ZONE_MAX_CHARS))
        .pattern(Some(TIME_ZONE_PATTERN))
        .description(Some(
            "An IANA time zone name, such as `Europe/Paris`: one of the tz database's names \
             (<https://www.iana.org/time-zones>; listed at <https://en.wikipedia.org/wiki/List_of_tz_database_time_zones>), \
             matched exactly (case included). Any other is 400 `invalid_field`.",
        ))
        .examples(TIME_ZONE_EXAMPLES)
        .build()
        .into()
}

/// The `format` of [`time_zone_schema`], for tools that generate values of it
/// (infra/fuzz_hooks.py draws them from the examples).
const TIME_ZONE_FORMAT: &str = "iana-time-zone";
/// What every zone name looks like (a test checks each one the server knows).
const TIME_ZONE_PATTERN: &str = "^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$";
/// Longer than any zone name.
const TIME_ZONE_MAX_CHARS: usize = 64;
const TIME_ZONE_EXAMPLES: [&str; 6] = [
    "Europe/Paris",
    "America/New_York",
    "Asia/Kolkata",
    "Australia/Sydney",
    "America/Argentina/Buenos_Aires",
    "UTC",
];

/// A path or query parameter's schema: what the API accepts for it, so a value
/// the document allows is one the API takes (ids, numbers, flags and zones are
/// checked, and a 400 names them otherwise).
fn parameter_schema(name: &str) -> RefOr<Schema> {
    let number = |min: i64, max: i64| {
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(min))
            .maximum(Some(max))
            .build()
            .into()
    };
    let strings = |values: &[&str]| {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(values.to_vec()))
            .build()
            .into()
    };
    match name {
        "chat_id" | "message_id" | "session_id" | "key_id" => ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Uuid)))
            .build()
            .into(),
        // Chat numbers (dialects B and E).
        "id" | "conversation_id" => number(1, i64::MAX),
        "limit" => number(1, MAX_LIMIT as i64),
        "period" => strings(&["today", "yesterday", "week"]),
        "from" | "to" => ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Date)))
            .build()
            .into(),
        "all" => strings(&["true", "false", "1", "0", "yes", "no"]),
        "tz" => utoipa::openapi::Ref::from_schema_name(TIME_ZONE).into(),
        // 256 random bits, base64url (API.md §7).
        "share_id" => ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(crate::conversation::shares::SHARE_ID_PATTERN))
            .build()
            .into(),
        "search" => ObjectBuilder::new()
            .schema_type(Type::String)
            .max_length(Some(crate::surfaces::chats::chat::MAX_SEARCH_CHARS))
            .build()
            .into(),
        _ => string_schema(),
    }
}

/// The `Idempotency-Key` header of the routes that charge (API.md §6).
fn idempotency_key_parameter() -> ParameterBuilder {
    ParameterBuilder::new()
        .name("Idempotency-Key")
        .parameter_in(ParameterIn::Header)
        .required(Required::False)
        .description(Some(
            "Makes a retry safe: within 24 hours, the same key with the same request gets the first answer again \
             (same ids, charged once; a stream as one body of all its events, with `Idempotent-Replayed: true`); \
             with another request 422 `idempotency_key_reused`; while the first runs 409 `idempotency_in_progress`.",
        ))
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(Some(1))
                .max_length(Some(crate::http::idempotency::MAX_KEY_CHARS))
                .pattern(Some("^[ -~]+$"))
                .build(),
        ))
}

fn error_response(status: u16, error: &RefOr<Schema>) -> ResponseBuilder {
    let description = match status {
        400 => "Malformed JSON (not UTF-8, nested past 32 levels, or repeating a key in one object) or an invalid field (named in `field`).",
        401 => "Missing, unknown, expired or revoked token.",
        402 => "The token balance is too low.",
        403 => "Deactivated account, not an administrator, or (`csrf_failed`) a cookie-authenticated change without a browser's proof (Origin, Sec-Fetch-Site or Referer) of the API's own or an allowed origin.",
        404 => "Not found, or owned by someone else.",
        405 => "Wrong method.",
        409 => "Conflict (taken username or email, nothing to regenerate, a password changed meanwhile, or `reply_conflict`: another reply to the same message was stored meanwhile, not charged; `idempotency_in_progress`: the first request with this Idempotency-Key is still running, see Retry-After).",
        422 => "`idempotency_key_reused`: this Idempotency-Key was sent with a different request in the last 24 hours.",
        413 => "Body over 64 KiB, or a message over 16 000 characters.",
        415 => "The body is not JSON.",
        429 => "Rate limited; see Retry-After.",
        502 => "The model provider failed; the message is kept (chat_id, message_id).",
        503 => "The model or store is unavailable; the message is kept (chat_id, message_id).",
        504 => "The model timed out; the message is kept (chat_id, message_id).",
        _ => "Error.",
    };
    ResponseBuilder::new()
        .description(description)
        .content("application/json", Content::new(Some(error.clone())))
}

fn build() -> utoipa::openapi::OpenApi {
    let mut schemas = vec![(TIME_ZONE.to_string(), time_zone_schema())];
    let error = schema(json::<ErrorBody>(), &mut schemas);
    let openai_error = schema(json::<OpenAiErrorBody>(), &mut schemas);
    let mut paths = PathsBuilder::new();
    for route in DOCUMENTED_ROUTES.iter().filter(|r| r.in_openapi) {
        let doc = &route.doc;
        let mut op = OperationBuilder::new()
            .operation_id(Some(route.operation_id()))
            .tag(route.surface.expect("a documented route has a surface").tag())
            .summary(Some(route.summary))
            .response(doc.status.to_string(), success(doc.response, &mut schemas));
        if let Some((status, body)) = doc.also {
            op = op.response(status.to_string(), success(Some(body), &mut schemas));
        }
        if let Some(request) = doc.request {
            op = op.request_body(Some(
                RequestBodyBuilder::new()
                    .content("application/json", Content::new(Some(schema(request, &mut schemas))))
                    .build(),
            ));
        }
        let mut statuses: Vec<u16> = doc.errors.to_vec();
        statuses.extend([400, 405, 413, 415]);
        if route.access == Access::User {
            statuses.extend([401, 403]);
            op = op
                .security(SecurityRequirement::new("token", Vec::<String>::new()))
                .security(SecurityRequirement::new("bearer", Vec::<String>::new()))
                .security(SecurityRequirement::new("session", Vec::<String>::new()));
        }
        if route.limit != Limit::None {
            statuses.push(429);
        }
        if route.charges() {
            statuses.extend([409, 422]);
            op = op.parameter(idempotency_key_parameter());
        }
        statuses.sort();
        statuses.dedup();
        let error = match route.errors {
            Errors::Api => &error,
            Errors::OpenAi => &openai_error,
        };
        for status in statuses {
            op = op.response(status.to_string(), error_response(status, error));
        }
        for segment in route.path.split('/') {
            if let Some(name) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                op = op.parameter(
                    ParameterBuilder::new()
                        .name(name)
                        .parameter_in(ParameterIn::Path)
                        .required(Required::True)
                        .schema(Some(parameter_schema(name))),
                );
            }
        }
        let mut query: Vec<(&str, &str)> = doc.query.to_vec();
        if route.access == Access::User {
            query.push((
                "tz",
                "IANA zone for display-formatted times (default: the user's, then DISPLAY_TIME_ZONE).",
            ));
        }
        for (name, description) in query {
            op = op.parameter(
                ParameterBuilder::new()
                    .name(name)
                    .parameter_in(ParameterIn::Query)
                    .required(Required::False)
                    .description(Some(description))
                    .schema(Some(parameter_schema(name))),
            );
        }
        let method = match route.method {
            "GET" => HttpMethod::Get,
            "POST" => HttpMethod::Post,
            "PUT" => HttpMethod::Put,
            "PATCH" => HttpMethod::Patch,
            _ => HttpMethod::Delete,
        };
        paths = paths.path(route.path, PathItem::new(method, op.build()));
    }
    let mut components = ComponentsBuilder::new()
        .security_scheme(
            "token",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Authorization",
                "`Token <token>` (Django REST Framework style)",
            ))),
        )
        .security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        )
        .security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                "sessionid",
                "The session cookie `POST /auth/login/` sets (named by SESSION_COOKIE_NAME, `sessionid` by default); an Authorization header, when sent, wins. Cookie-authenticated POST/PUT/PATCH/DELETE must carry a browser's proof of coming from the API's own origin or one in CORS_ALLOWED_ORIGINS (`Origin`, else `Sec-Fetch-Site: same-origin|same-site`, else `Referer`; none or another is 403 `csrf_failed`), and a body must be declared `application/json` (else 415); two session cookies in one request are 400 `duplicate_session_cookie`.",
            ))),
        );
    for (name, schema) in schemas {
        components = components.schema(name, schema);
    }
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("Chatbot API")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "Chat with language models: accounts, token auth, chat history, editing, regeneration, a token balance and rate limits. \
                     Errors are always {\"error\", \"code\"} JSON. Every route also answers without its trailing slash.",
                )),
        )
        .paths(paths.build())
        .components(Some(components.build()))
        .tags(Some(Surface::ALL.map(|surface| {
            TagBuilder::new()
                .name(surface.tag())
                .description(Some(surface.description()))
                .build()
        })))
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routes::ROUTES;

    #[test]
    fn the_document_lists_every_route_with_its_method() {
        let doc = document();
        assert_eq!(
            doc["openapi"].as_str().unwrap().split('.').take(2).collect::<Vec<_>>(),
            ["3", "1"]
        );
        for route in ROUTES {
            let op = &doc["paths"][route.path][route.method.to_lowercase()];
            if route.in_openapi {
                assert_eq!(
                    op["operationId"],
                    route.operation_id(),
                    "{} {}",
                    route.method,
                    route.path
                );
            } else {
                assert!(
                    op.is_null(),
                    "{} {} is a page, not in the document",
                    route.method,
                    route.path
                );
            }
        }
    }

    /// `openapi-spec-validator` and client generators need each `operationId` once
    /// (it names a generated function), and a tag for each surface groups them.
    #[test]
    fn operation_ids_are_unique_and_tags_name_the_surfaces() {
        let doc = document();
        let mut ids = std::collections::BTreeSet::new();
        let mut tagged = std::collections::BTreeSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let id = op["operationId"].as_str().unwrap();
                assert!(ids.insert(id.to_string()), "{method} {path}: operationId {id} twice");
                assert!(
                    id.chars().all(|c| c.is_ascii_alphanumeric()) && id.starts_with(method.as_str()),
                    "{id}"
                );
                let tags = op["tags"].as_array().unwrap();
                assert_eq!(tags.len(), 1, "{method} {path}");
                tagged.insert(tags[0].as_str().unwrap().to_string());
            }
        }
        assert_eq!(ids.len(), ROUTES.iter().filter(|r| r.in_openapi).count());
        let declared: std::collections::BTreeSet<String> = doc["tags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(tagged, declared, "every declared tag is used, every used tag declared");
        assert_eq!(
            doc["paths"]["/api/chats/{chat_id}/"]["patch"]["operationId"],
            "patchApiChatsChatId"
        );
        assert_eq!(doc["paths"]["/v1/chat/completions"]["post"]["tags"][0], "openai");
        assert_eq!(doc["paths"]["/chat/threads/new/"]["post"]["tags"][0], "threads");
    }

    /// Found by the fuzz run (infra/fuzz-api.sh): the OpenAI routes' errors were
    /// documented in the canonical shape, and a new chat's 201 not at all.
    #[test]
    fn each_route_documents_the_statuses_and_error_shape_it_answers() {
        let doc = document();
        let reference = |op: &Value, status: &str| {
            op["responses"][status]["content"]["application/json"]["schema"]["$ref"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        };
        let completions = &doc["paths"]["/v1/chat/completions"]["post"];
        assert!(reference(completions, "400").ends_with("/OpenAiErrorBody"));
        assert!(reference(&doc["paths"]["/v1/models"]["get"], "401").ends_with("/OpenAiErrorBody"));
        let send = &doc["paths"]["/api/chats/"]["post"];
        assert!(reference(send, "400").ends_with("/ErrorBody"));
        assert!(reference(send, "201").ends_with("/SendChatResponse"));
        assert!(reference(send, "200").ends_with("/SendChatOrEnd"));
        // Streams say their media type; the completions route answers either.
        let content = |path: &str| doc["paths"][path]["post"]["responses"]["200"]["content"].clone();
        assert!(content("/api/chats/stream/")["text/event-stream"].is_object());
        assert!(content("/chat/streaming-response/{id}/")["text/plain"].is_object());
        let completions = content("/v1/chat/completions");
        assert!(completions["application/json"].is_object() && completions["text/event-stream"].is_object());
    }

    /// Found by the fuzz run: every parameter was a bare string, so most values
    /// the document allowed (any `tz`, any `chat_id`) were 400s.
    #[test]
    fn parameters_document_the_values_the_api_takes() {
        let doc = document();
        let parameter = |path: &str, method: &str, name: &str| {
            let params = doc["paths"][path][method]["parameters"].as_array().unwrap();
            params.iter().find(|p| p["name"] == name).unwrap()["schema"].clone()
        };
        assert_eq!(parameter("/api/chats/{chat_id}/", "get", "chat_id")["format"], "uuid");
        let limit = parameter("/api/chats/", "get", "limit");
        assert_eq!(
            (limit["minimum"].as_i64(), limit["maximum"].as_i64()),
            (Some(1), Some(100))
        );
        assert_eq!(
            parameter("/chat/threads/{id}/messages/", "get", "id")["type"],
            "integer"
        );
        let tz = parameter("/api/chats/", "get", "tz");
        assert_eq!(tz["$ref"], "#/components/schemas/TimeZone");
    }

    /// The time zone is a checked string, not an enum of every name (which made
    /// openapi-python-client fail on keys such as `GMT0`): every name the server
    /// takes fits the schema, and its examples are names the server takes.
    #[test]
    fn the_time_zone_schema_fits_every_zone_the_server_takes() {
        let zone = &document()["components"]["schemas"]["TimeZone"];
        assert!(zone.get("enum").is_none());
        assert_eq!(zone["pattern"], TIME_ZONE_PATTERN);
        assert_eq!(zone["format"], TIME_ZONE_FORMAT);
        // TIME_ZONE_PATTERN, spelled out.
        let fits = |name: &str| {
            name.len() <= TIME_ZONE_MAX_CHARS
                && name.starts_with(|c: char| c.is_ascii_alphabetic())
                && name.split('/').all(|part| {
                    !part.is_empty() && part.chars().all(|c| c.is_ascii_alphanumeric() || "_+-".contains(c))
                })
        };
        for zone in chrono_tz::TZ_VARIANTS {
            assert!(fits(zone.name()), "{}", zone.name());
        }
        let examples = zone["examples"].as_array().unwrap();
        assert!(!examples.is_empty());
        for example in examples {
            let name = example.as_str().unwrap();
            assert!(fits(name) && crate::time::parse_zone(name, "tz").is_ok(), "{name}");
        }
        assert!(zone["description"]
            .as_str()
            .unwrap()
            .contains("https://www.iana.org/time-zones"));
    }

    /// Found by the fuzz run: bodies the document allowed (a blank message, a
    /// 300-character title, a two-letter username) were 400s.
    #[test]
    fn request_bodies_state_the_limits_the_api_checks() {
        let schemas = &document()["components"]["schemas"];
        let content = &schemas["SendChatRequest"]["properties"]["content"];
        assert_eq!(
            (content["minLength"].as_u64(), content["maxLength"].as_u64()),
            (Some(1), Some(crate::http::body::MAX_MESSAGE_CHARS as u64))
        );
        assert_eq!(content["pattern"], r"\S");
        let title = crate::surfaces::chats::chat::MAX_TITLE_CHARS;
        assert_eq!(schemas["UpdateChatRequest"]["properties"]["title"]["maxLength"], title);
        assert_eq!(schemas["SendChatRequest"]["properties"]["chat_id"]["format"], "uuid");
        let username = &schemas["RegisterRequest"]["properties"]["username"];
        assert_eq!(
            (username["minLength"].as_u64(), username["maxLength"].as_u64()),
            (Some(3), Some(150))
        );
        let password = crate::auth::password::MIN_PASSWORD_CHARS;
        assert_eq!(
            schemas["RegisterRequest"]["properties"]["password"]["minLength"],
            password
        );
    }

    /// Found by schemathesis' positive_data_acceptance: `{}` was a valid body of
    /// `POST /api/chats/` (and of login, of thread titles…) by the document, and a
    /// 400 by the server.
    #[test]
    fn bodies_say_which_fields_the_handlers_require() {
        let doc = document();
        let schemas = &doc["components"]["schemas"];
        let body = |path: &str, method: &str| doc["paths"][path][method]["requestBody"].clone();
        assert_eq!(body("/api/chats/", "post")["required"], true);
        assert_eq!(
            schemas["SendChatRequest"]["anyOf"][1]["properties"]["end_session"]["const"],
            true
        );
        assert_eq!(schemas["LoginRequest"]["anyOf"].as_array().map(Vec::len), Some(2));
        assert_eq!(body("/chat/threads/{id}/update-title/", "put")["required"], true);
        assert_eq!(schemas["ETitleRequest"]["required"][0], "title");
        assert_eq!(
            schemas["RegenerateConversationRequest"]["required"][0],
            "conversation_id"
        );
        assert_eq!(schemas["ChatCompletionRequest"]["properties"]["n"]["maximum"], 1);
        // All-optional bodies may be left out: the server reads none as `{}`.
        assert!(body("/api/chats/{chat_id}/regenerate/", "post")["required"].is_null());
        assert!(body("/api/me/", "patch")["required"].is_null());
    }

    #[test]
    fn every_schema_reference_resolves() {
        let doc = document();
        let text = doc.to_string();
        for reference in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
            let name = reference.split('"').next().unwrap();
            assert!(
                doc["components"]["schemas"].get(name).is_some(),
                "dangling reference to {name}"
            );
        }
    }
}
