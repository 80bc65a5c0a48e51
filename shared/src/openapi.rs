//! The OpenAPI 3.1 document, built from the route table and the API types'
//! derived schemas, so every route that exists is documented and nothing else is.

use std::sync::OnceLock;

use serde_json::Value;
use utoipa::openapi::path::{OperationBuilder, ParameterBuilder, ParameterIn};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{
    ComponentsBuilder, Content, HttpMethod, InfoBuilder, OpenApiBuilder, PathItem, PathsBuilder, Ref, RefOr, Required,
    ResponseBuilder, Schema,
};
use utoipa::ToSchema;

use crate::api::accounts::*;
use crate::api::chats::*;
use crate::api::meta::*;
use crate::api::{ErrorBody, Notice};
use crate::routes::{Access, Limit, Operation, ROUTES};

/// The document as JSON, built once per process.
pub fn document() -> &'static Value {
    static DOCUMENT: OnceLock<Value> = OnceLock::new();
    DOCUMENT.get_or_init(|| serde_json::to_value(build()).expect("an OpenAPI document serializes"))
}

#[derive(Default)]
struct Schemas(Vec<(String, RefOr<Schema>)>);

impl Schemas {
    fn of<T: ToSchema>(&mut self) -> RefOr<Schema> {
        let name = T::name().to_string();
        self.0.push((name.clone(), T::schema()));
        T::schemas(&mut self.0);
        Ref::from_schema_name(name).into()
    }

    fn list_of<T: ToSchema>(&mut self) -> RefOr<Schema> {
        ArrayBuilder::new().items(self.of::<T>()).build().into()
    }
}

/// Request schema, success status and response schema of an operation.
fn shapes(operation: Operation, s: &mut Schemas) -> (Option<RefOr<Schema>>, u16, RefOr<Schema>) {
    use Operation::*;
    match operation {
        Register => (Some(s.of::<RegisterRequest>()), 201, s.of::<AuthResponse>()),
        Login => (Some(s.of::<LoginRequest>()), 200, s.of::<AuthResponse>()),
        Logout | DeleteMe | DeleteChat => (None, 200, s.of::<Notice>()),
        GetMe => (None, 200, s.of::<ProfileView>()),
        UpdateMe => (Some(s.of::<UpdateProfileRequest>()), 200, s.of::<ProfileView>()),
        DeactivateUser | ActivateUser => (None, 200, s.of::<AccountStatusView>()),
        SendChat => (Some(s.of::<SendChatRequest>()), 200, s.of::<SendChatResponse>()),
        ListChats => (None, 200, s.list_of::<ChatView>()),
        DeleteAllChats => (None, 200, s.of::<DeletedChatsResponse>()),
        GetChat => (None, 200, s.of::<ChatView>()),
        UpdateChat => (Some(s.of::<UpdateChatRequest>()), 200, s.of::<ChatView>()),
        ListMessages => (None, 200, s.list_of::<MessageView>()),
        EditMessage => (Some(s.of::<EditMessageRequest>()), 200, s.of::<EditMessageResponse>()),
        Regenerate => (Some(s.of::<RegenerateRequest>()), 200, s.of::<RegeneratedView>()),
        GetTokens => (None, 200, s.of::<TokensView>()),
        ListModels => (None, 200, s.list_of::<ModelView>()),
        OpenApi => (
            None,
            200,
            ObjectBuilder::new().description(Some("This document.")).build().into(),
        ),
        Health => (None, 200, s.of::<HealthView>()),
        StreamChat => (Some(s.of::<SendChatRequest>()), 200, described("text/event-stream: `start` {chat_id, message_id}, `delta` {text}…, then `done` {message_id, usage, tokens_remaining} or `error` {error, code}.")),
        ChatCompletions => (Some(described("OpenAI's chat completion request (model as provider/model).")), 200, described("OpenAI's chat.completion object, or chat.completion.chunk server-sent events ending in `data: [DONE]` when `stream` is true.")),
        OpenAiModels => (None, 200, described("OpenAI's model list: {object: \"list\", data: [{id, object, created, owned_by}]}.")),
        Fallback => (None, 404, s.of::<ErrorBody>()),
    }
}

/// The error statuses an operation can answer, besides the ones every route can.
fn errors(operation: Operation) -> &'static [u16] {
    use Operation::*;
    match operation {
        Register => &[409],
        Login => &[401, 403],
        SendChat | EditMessage | Regenerate | StreamChat => &[402, 404, 502, 503, 504],
        ChatCompletions => &[402, 502, 503, 504],
        GetChat | UpdateChat | DeleteChat | ListMessages => &[404],
        DeactivateUser | ActivateUser => &[403, 404],
        UpdateMe => &[409],
        Health => &[503],
        _ => &[],
    }
}

fn query_params(operation: Operation) -> &'static [(&'static str, &'static str)] {
    use Operation::*;
    match operation {
        ListChats => &[
            ("session_id", "Only this chat."),
            (
                "search",
                "Chats whose title or messages contain this text (case-insensitive).",
            ),
            (
                "period",
                "today, yesterday, or week (the 7 days ending today), in the display zone.",
            ),
            ("limit", "Page size, 1–100 (default 20)."),
            ("cursor", "The next page's cursor, from the Link header."),
        ],
        ListMessages => &[
            ("limit", "Page size, 1–100 (default 20)."),
            ("cursor", "The next page's cursor, from the Link header."),
        ],
        Logout => &[("all", "true revokes every token of the user.")],
        _ => &[],
    }
}

fn described(text: &str) -> RefOr<Schema> {
    ObjectBuilder::new().description(Some(text)).build().into()
}

fn string_schema() -> RefOr<Schema> {
    ObjectBuilder::new().schema_type(Type::String).build().into()
}

fn error_response(status: u16, error: &RefOr<Schema>) -> ResponseBuilder {
    let description = match status {
        400 => "Malformed JSON or an invalid field (named in `field`).",
        401 => "Missing, unknown, expired or revoked token.",
        402 => "The token balance is too low.",
        403 => "Deactivated account, or not an administrator.",
        404 => "Not found, or owned by someone else.",
        405 => "Wrong method.",
        409 => "Conflict (taken username or email, nothing to regenerate).",
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
    let mut schemas = Schemas::default();
    let error = schemas.of::<ErrorBody>();
    let mut paths = PathsBuilder::new();
    for route in ROUTES {
        let (request, success, response) = shapes(route.operation, &mut schemas);
        let mut op = OperationBuilder::new()
            .operation_id(Some(route.function))
            .summary(Some(route.summary))
            .response(
                success.to_string(),
                ResponseBuilder::new()
                    .description("Success.")
                    .content("application/json", Content::new(Some(response))),
            );
        if let Some(request) = request {
            op = op.request_body(Some(
                RequestBodyBuilder::new()
                    .content("application/json", Content::new(Some(request)))
                    .build(),
            ));
        }
        let mut statuses: Vec<u16> = errors(route.operation).to_vec();
        statuses.extend([400, 405, 413, 415]);
        if route.access == Access::User {
            statuses.extend([401, 403]);
            op = op
                .security(SecurityRequirement::new("token", Vec::<String>::new()))
                .security(SecurityRequirement::new("bearer", Vec::<String>::new()));
        }
        if route.limit != Limit::None {
            statuses.push(429);
        }
        statuses.sort();
        statuses.dedup();
        for status in statuses {
            op = op.response(status.to_string(), error_response(status, &error));
        }
        for segment in route.path.split('/') {
            if let Some(name) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                op = op.parameter(
                    ParameterBuilder::new()
                        .name(name)
                        .parameter_in(ParameterIn::Path)
                        .required(Required::True)
                        .schema(Some(string_schema())),
                );
            }
        }
        let mut query: Vec<(&str, &str)> = query_params(route.operation).to_vec();
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
                    .schema(Some(string_schema())),
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
        );
    for (name, schema) in schemas.0 {
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
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_lists_every_route_with_its_method() {
        let doc = document();
        assert_eq!(
            doc["openapi"].as_str().unwrap().split('.').take(2).collect::<Vec<_>>(),
            ["3", "1"]
        );
        for route in ROUTES {
            let op = &doc["paths"][route.path][route.method.to_lowercase()];
            assert_eq!(op["operationId"], route.function, "{} {}", route.method, route.path);
        }
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
