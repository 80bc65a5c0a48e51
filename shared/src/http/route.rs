//! What one entry of the route table says about a route. Everything that serves,
//! deploys or documents a route reads it from here: the pipeline (access, limit,
//! handler, error shape), `cargo xtask gen` (method, path, function) and the OpenAPI
//! document (summary and [`Doc`]). Entries are `const`, built with the chained
//! `const fn` setters below, so the table stays one readable expression.

use std::future::Future;
use std::pin::Pin;

use utoipa::openapi::{RefOr, Schema};
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::http::call::Call;
use crate::http::reply::Output;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Public,
    /// A valid token of an active account.
    User,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    None,
    /// `RATE_LIMIT_PER_MINUTE` per user: routes that call a model.
    PerUser,
    /// `AUTH_RATE_LIMIT_PER_MINUTE` per client IP: register and login.
    PerIp,
    /// `WRITE_RATE_LIMIT_PER_MINUTE` per user, one window shared by every route
    /// of every dialect that changes chats, threads or the account (API.md §6).
    Write,
    /// A list that counts in the write window when it searches (`?search=`): a
    /// search costs the store a scan of the user's chats.
    Search,
}

/// The JSON shape a route's errors take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Errors {
    /// `{"error", "code", …}`, as every route of this API.
    Api,
    /// `{"error": {"message", "type", …}}`: OpenAI's clients read only that.
    OpenAi,
}

/// The API surface a route belongs to: its tag in the OpenAPI document, so a
/// generated client groups each surface's operations (the canonical API by
/// resource, the OpenAI-compatible routes, and each dialect by what it serves).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Surface {
    /// Canonical: register, log in and out, the profile, admin switches.
    Accounts,
    /// Canonical: chats, their messages, replies and streams.
    Chats,
    /// Canonical: the balance, the models, health and the document itself.
    Service,
    /// `/v1/…`, for OpenAI's SDKs.
    OpenAi,
    /// Dialect B (Gemini conversations by number), whose `POST /api/chat/` dialect C shares.
    Conversations,
    /// Dialect D: a prompt route per provider, chats by client-chosen UUID and by day.
    Prompts,
    /// Dialect E: Ollama-style threads and cookie sessions.
    Threads,
}

impl Surface {
    pub const ALL: [Surface; 7] = [
        Surface::Accounts,
        Surface::Chats,
        Surface::Service,
        Surface::OpenAi,
        Surface::Conversations,
        Surface::Prompts,
        Surface::Threads,
    ];

    /// The tag's name.
    pub const fn tag(self) -> &'static str {
        match self {
            Surface::Accounts => "accounts",
            Surface::Chats => "chats",
            Surface::Service => "service",
            Surface::OpenAi => "openai",
            Surface::Conversations => "conversations",
            Surface::Prompts => "prompts",
            Surface::Threads => "threads",
        }
    }

    /// The tag's description, for a reader choosing a surface.
    pub const fn description(self) -> &'static str {
        match self {
            Surface::Accounts => "The canonical API: register, log in and out, the profile, and (admins) deactivating users.",
            Surface::Chats => "The canonical API: chats and their messages; send, stream, edit, regenerate, rename, end, delete.",
            Surface::Service => "The canonical API: the token balance, the models on offer, health, and this document.",
            Surface::OpenAi => "OpenAI-compatible chat completions and model list, for OpenAI's SDKs (errors in OpenAI's shape; model as `provider/model`).",
            Surface::Conversations => "Dialect B: Gemini-style conversations named by number. Its `POST /api/chat/` is also dialect C's (which otherwise uses the canonical register and balance routes).",
            Surface::Prompts => "Dialect D: one prompt route per provider, chats named by a client-chosen UUID, chats by day; each route also under `/api/`.",
            Surface::Threads => "Dialect E: Ollama-style threads named by number, and accounts signed in with a session cookie (`/auth/`, `/chat/`).",
        }
    }
}

/// The future a [`Handler`] returns: boxed, so handlers of different types fit
/// one table, and `Send`, as `lambda_http` requires.
pub type HandlerFuture<'c> = Pin<Box<dyn Future<Output = Result<Output, ApiError>> + Send + 'c>>;

/// A route's handler as the table stores it; [`handler!`] makes one from an `async fn(&Call<'_>) -> Result<Reply | Output, ApiError>`.
pub type Handler = for<'c, 's> fn(&'c Call<'s>) -> HandlerFuture<'c>;

/// Wraps a handler (`async fn(&Call<'_>) -> Result<Reply, ApiError>`, or one
/// returning `Result<Output, ApiError>`) into a [`Handler`] for the route table.
macro_rules! handler {
    ($handler:path) => {{
        fn boxed<'c, 's>(call: &'c $crate::http::call::Call<'s>) -> $crate::http::route::HandlerFuture<'c> {
            Box::pin(async move { $handler(call).await.map($crate::http::reply::Output::from) })
        }
        boxed as $crate::http::route::Handler
    }};
}
pub(crate) use handler;

/// A request or response body as the OpenAPI document shows it.
#[derive(Clone, Copy, Debug)]
pub enum Body {
    /// A type's derived schema, referenced as a component.
    Json(SchemaFn),
    /// An array of a type's derived schema.
    ListOf(SchemaFn),
    /// A JSON shape described in words (OpenAI's objects).
    Described(&'static str),
    /// A body in these media types (server-sent events, plain text, or JSON for
    /// a route that answers either), described in words.
    Media(&'static [&'static str], &'static str),
}

/// Adds a type's schema (and those it refers to) to the components and returns a
/// reference to it; a function pointer, so a `const` table can name a type.
pub type SchemaFn = fn(&mut Vec<(String, RefOr<Schema>)>) -> RefOr<Schema>;

fn component<T: ToSchema>(components: &mut Vec<(String, RefOr<Schema>)>) -> RefOr<Schema> {
    let name = T::name().to_string();
    components.push((name.clone(), T::schema()));
    T::schemas(components);
    utoipa::openapi::Ref::from_schema_name(name).into()
}

/// A JSON body of type `T`.
pub const fn json<T: ToSchema>() -> Body {
    Body::Json(component::<T>)
}

/// A JSON array of `T`.
pub const fn list<T: ToSchema>() -> Body {
    Body::ListOf(component::<T>)
}

/// A body the document describes in words.
pub const fn described(text: &'static str) -> Body {
    Body::Described(text)
}

/// A body in `media_types` (the first is the usual one), described in words.
pub const fn media(media_types: &'static [&'static str], text: &'static str) -> Body {
    Body::Media(media_types, text)
}

/// What the OpenAPI document says about a route beyond its method, path, access
/// and limit (from which it derives security and the 401/403/429 answers).
#[derive(Clone, Copy, Debug)]
pub struct Doc {
    pub request: Option<Body>,
    pub status: u16,
    /// Another success status and its body (POST /api/chats/: 201 starting a chat,
    /// 200 continuing one or ending the session).
    pub also: Option<(u16, Body)>,
    pub response: Option<Body>,
    /// Error statuses besides the ones every route can answer.
    pub errors: &'static [u16],
    /// Query parameters: name and description.
    pub query: &'static [(&'static str, &'static str)],
}

impl Doc {
    /// A bare 200 with no bodies, errors or query described.
    pub const NONE: Doc = Doc {
        request: None,
        status: 200,
        also: None,
        response: None,
        errors: &[],
        query: &[],
    };
}

#[derive(Clone, Copy, Debug)]
pub struct Route {
    pub method: &'static str,
    /// With a trailing slash, as the original clients call it; the slashless form
    /// answers too.
    pub path: &'static str,
    /// The Lambda function (and binary) that serves it: an entry of
    /// [`FUNCTIONS`](super::FUNCTIONS).
    pub function: &'static str,
    pub summary: &'static str,
    pub access: Access,
    pub limit: Limit,
    pub errors: Errors,
    pub handler: Handler,
    pub doc: Doc,
    /// Its tag in the OpenAPI document; every route the document lists has one.
    pub surface: Option<Surface>,
    /// Whether the OpenAPI document lists it: every API route does. The web page's
    /// routes do not (see [`Route::page`]).
    pub in_openapi: bool,
}

impl Route {
    /// A route for signed-in users, without a rate limit, answering errors in
    /// this API's shape and documented as a bare 200 until the setters say more.
    pub const fn new(method: &'static str, path: &'static str, function: &'static str, handler: Handler) -> Self {
        Self {
            method,
            path,
            function,
            summary: "",
            access: Access::User,
            limit: Limit::None,
            errors: Errors::Api,
            handler,
            in_openapi: true,
            surface: None,
            doc: Doc::NONE,
        }
    }

    /// The same route at another path (a surface that answers under two prefixes):
    /// one definition, so the two cannot drift apart.
    pub const fn alias(self, path: &'static str) -> Self {
        Self { path, ..self }
    }

    pub const fn surface(mut self, surface: Surface) -> Self {
        self.surface = Some(surface);
        self
    }

    pub const fn summary(mut self, summary: &'static str) -> Self {
        self.summary = summary;
        self
    }

    /// Anyone may call it (no token).
    pub const fn public(mut self) -> Self {
        self.access = Access::Public;
        self
    }

    pub const fn limit(mut self, limit: Limit) -> Self {
        self.limit = limit;
        self
    }

    /// A file of the web page (HTML, CSS, JavaScript), public. The OpenAPI
    /// document leaves it out: it describes the API that the page is a client of,
    /// every one of its answers is JSON, and clients generated or fuzzed from it
    /// (schemathesis) have nothing to call on a page.
    pub const fn page(mut self) -> Self {
        self.access = Access::Public;
        self.in_openapi = false;
        self
    }

    pub const fn openai_errors(mut self) -> Self {
        self.errors = Errors::OpenAi;
        self
    }

    pub const fn request(mut self, body: Body) -> Self {
        self.doc.request = Some(body);
        self
    }

    /// The success status and body.
    pub const fn response(mut self, status: u16, body: Body) -> Self {
        self.doc.status = status;
        self.doc.response = Some(body);
        self
    }

    /// A second success status and its body.
    pub const fn also(mut self, status: u16, body: Body) -> Self {
        self.doc.also = Some((status, body));
        self
    }

    pub const fn errors(mut self, statuses: &'static [u16]) -> Self {
        self.doc.errors = statuses;
        self
    }

    pub const fn query(mut self, params: &'static [(&'static str, &'static str)]) -> Self {
        self.doc.query = params;
        self
    }

    /// Whether it charges the balance: the routes that call a model (and only
    /// they) are limited per user. They take an `Idempotency-Key` (API.md §6).
    pub fn charges(&self) -> bool {
        self.limit == Limit::PerUser
    }

    /// Whether a personal API key authenticates it: the OpenAI-compatible
    /// routes only (API.md §7).
    pub fn takes_api_keys(&self) -> bool {
        self.path.starts_with("/v1/")
    }

    /// The OpenAPI `operationId`: the method and the path's words in lowerCamelCase
    /// (`PATCH /api/chats/{chat_id}/` is `patchApiChatsChatId`), so it reads as the
    /// request it names, is unique because method and path are, and a route keeps
    /// its name while others come and go (a generated client's function names
    /// stay).
    pub fn operation_id(&self) -> String {
        let mut id = self.method.to_ascii_lowercase();
        for word in self
            .path
            .split(|c: char| !c.is_ascii_alphanumeric())
            .filter(|w| !w.is_empty())
        {
            let mut chars = word.chars();
            if let Some(first) = chars.next() {
                id.push(first.to_ascii_uppercase());
                id.push_str(&chars.as_str().to_ascii_lowercase());
            }
        }
        id
    }

    /// Both forms clients may call: the table's, and the one without a trailing
    /// slash (one form only when the path has none, or is `/`).
    pub fn paths(&self) -> Vec<&'static str> {
        let bare = self.path.trim_end_matches('/');
        if bare == self.path || bare.is_empty() {
            vec![self.path]
        } else {
            vec![self.path, bare]
        }
    }
}
