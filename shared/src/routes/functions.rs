//! The Lambda functions the routes name, with what `template.yaml` needs to deploy
//! each one: its description, the DynamoDB actions its policy grants, whether it
//! reads the provider-keys secret or invokes the inference function, whether it
//! streams behind a Function URL, and its overrides of the template's globals.
//! `cargo xtask gen` renders every function resource of the template from this
//! table and the routes, so a policy is written once, here.

/// The function that answers unmatched paths and methods (404, or 405 with
/// `Allow`); it serves no route of the table.
pub const FALLBACK_FUNCTION: &str = "route-fallback";

/// A DynamoDB action a function's policy may grant (on the table, and on its
/// indexes when [`Function::indexes`] is set). `tests/tests/dynamodb_requests.rs`
/// checks that each route's requests need no more than its function is granted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DynamoDb {
    GetItem,
    PutItem,
    UpdateItem,
    DeleteItem,
    ConditionCheckItem,
    Query,
    BatchWriteItem,
    /// The whole table: only the administrators' usage view.
    Scan,
}

impl DynamoDb {
    /// The IAM action name.
    pub fn action(self) -> &'static str {
        match self {
            DynamoDb::GetItem => "dynamodb:GetItem",
            DynamoDb::PutItem => "dynamodb:PutItem",
            DynamoDb::UpdateItem => "dynamodb:UpdateItem",
            DynamoDb::DeleteItem => "dynamodb:DeleteItem",
            DynamoDb::ConditionCheckItem => "dynamodb:ConditionCheckItem",
            DynamoDb::Query => "dynamodb:Query",
            DynamoDb::BatchWriteItem => "dynamodb:BatchWriteItem",
            DynamoDb::Scan => "dynamodb:Scan",
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub struct Function {
    /// The crate, binary and template `Binary` name (kebab-case).
    pub name: &'static str,
    /// The template's `Description` and the crate's.
    pub description: &'static str,
    pub dynamodb: &'static [DynamoDb],
    /// Whether the DynamoDB grant covers the table's indexes too (queries by
    /// time, open chat or reply).
    pub indexes: bool,
    /// Reads the `ProviderKeys` secret (and gets its name in `SECRET_ID`): only
    /// functions whose answers depend on the provider keys (model calls, model
    /// availability).
    pub reads_keys: bool,
    /// Pages lists: reads the `CursorKey` secret (named in `CURSOR_KEY_SECRET_ID`)
    /// when a list is first paged, to sign and check cursors.
    pub signs_cursors: bool,
    /// Invokes `InferenceFunction` (Flan-T5 runs there) and gets its name in
    /// `INFERENCE_FUNCTION`.
    pub invokes_inference: bool,
    /// Gets the inference function's name in `INFERENCE_FUNCTION` without the right
    /// to invoke it: it lists Flan-T5 as available (the model list) but never calls it.
    pub names_inference: bool,
    /// Gets the stream function's URL in `STREAM_URL`: the web page, whose
    /// streamed replies come from there in AWS.
    pub names_stream_url: bool,
    /// Uses Lambda response streaming behind a Function URL (RESPONSE_STREAM):
    /// API Gateway's HTTP API cannot stream, so its routes are not on the API.
    pub streams: bool,
    /// `MemorySize` (MB) instead of the template's global.
    pub memory: Option<u32>,
    /// `Timeout` (s) instead of the template's global (29 s, under API Gateway's 30).
    pub timeout: Option<u32>,
    /// Environment variables besides the template's global ones (or overriding them).
    pub env: &'static [(&'static str, &'static str)],
}

impl Function {
    /// A function granted nothing, buffered, with the template's globals.
    pub const fn new(name: &'static str) -> Self {
        Self {
            name,
            description: "",
            dynamodb: &[],
            indexes: false,
            reads_keys: false,
            signs_cursors: false,
            invokes_inference: false,
            names_inference: false,
            names_stream_url: false,
            streams: false,
            memory: None,
            timeout: None,
            env: &[],
        }
    }

    pub const fn description(mut self, description: &'static str) -> Self {
        self.description = description;
        self
    }

    /// The DynamoDB actions it may use on the table.
    pub const fn dynamodb(mut self, actions: &'static [DynamoDb]) -> Self {
        self.dynamodb = actions;
        self
    }

    /// Extends the DynamoDB grant to the table's indexes.
    pub const fn indexes(mut self) -> Self {
        self.indexes = true;
        self
    }

    pub const fn reads_keys(mut self) -> Self {
        self.reads_keys = true;
        self
    }

    pub const fn signs_cursors(mut self) -> Self {
        self.signs_cursors = true;
        self
    }

    pub const fn invokes_inference(mut self) -> Self {
        self.invokes_inference = true;
        self
    }

    pub const fn names_inference(mut self) -> Self {
        self.names_inference = true;
        self
    }

    pub const fn names_stream_url(mut self) -> Self {
        self.names_stream_url = true;
        self
    }

    pub const fn streams(mut self) -> Self {
        self.streams = true;
        self
    }

    pub const fn memory(mut self, megabytes: u32) -> Self {
        self.memory = Some(megabytes);
        self
    }

    pub const fn timeout(mut self, seconds: u32) -> Self {
        self.timeout = Some(seconds);
        self
    }

    pub const fn env(mut self, variables: &'static [(&'static str, &'static str)]) -> Self {
        self.env = variables;
        self
    }
}

use DynamoDb::*;

/// What a model call reads and writes: the user, the chat and its messages
/// (indexes included), and the charge with its hold (put with the charge, deleted
/// by the reply's write or the refund; the user's stale ones found by a query).
const CONVERSATION: &[DynamoDb] = &[GetItem, PutItem, UpdateItem, DeleteItem, ConditionCheckItem, Query];
/// Reading the balance refunds the user's stale holds first (`billing::settled_balance`).
const BALANCE: &[DynamoDb] = &[GetItem, UpdateItem, DeleteItem, Query];
/// Streaming functions answer for up to 5 minutes (no API Gateway in front), so
/// their provider calls may take longer too.
const STREAMING_TIMEOUT: u32 = 300;
const STREAMING_ENV: &[(&str, &str)] = &[("PROVIDER_TIMEOUT_SECS", "60")];

/// Every function, in the order of the template's resources.
pub const FUNCTIONS: &[Function] = &[
    Function::new("register")
        .description("Create an account and get a token")
        .dynamodb(&[GetItem, PutItem, UpdateItem]),
    Function::new("login")
        .description("Exchange a username or email and password for a token")
        .dynamodb(&[GetItem, PutItem, UpdateItem]),
    Function::new("logout")
        .description("Revoke the presented token (or all, with ?all=true)")
        .dynamodb(&[GetItem, DeleteItem, Query, BatchWriteItem]),
    Function::new("get-me")
        .description("The caller's profile")
        .dynamodb(&[GetItem]),
    Function::new("update-me")
        .description("Change email, time zone or password")
        .dynamodb(&[GetItem, PutItem, UpdateItem, DeleteItem, Query, BatchWriteItem]),
    Function::new("delete-me")
        .description("Delete the account with all its data")
        .dynamodb(&[GetItem, UpdateItem, Query, BatchWriteItem]),
    // Deactivation revokes the user's API keys: a query and a batch delete.
    Function::new("deactivate-user")
        .description("Deactivate a user (admins only)")
        .dynamodb(&[GetItem, UpdateItem, Query, BatchWriteItem]),
    Function::new("activate-user")
        .description("Reactivate a user (admins only)")
        .dynamodb(&[GetItem, UpdateItem]),
    Function::new("send-chat")
        .description("Send a message and get the model's reply, or end the session")
        .dynamodb(CONVERSATION)
        .indexes()
        .reads_keys()
        .invokes_inference(),
    Function::new("create-chat")
        .description("Create an empty chat (dialects B and E)")
        .dynamodb(&[GetItem, PutItem, UpdateItem]),
    Function::new("list-chats")
        .description("The caller's chats, newest first, with their conversations")
        .dynamodb(&[GetItem, UpdateItem, Query])
        .indexes()
        .signs_cursors(),
    Function::new("delete-all-chats")
        .description("Delete every chat of the caller")
        .dynamodb(&[GetItem, UpdateItem, Query, BatchWriteItem]),
    Function::new("get-chat")
        .description("One chat with its conversation")
        .dynamodb(&[GetItem, Query])
        .indexes(),
    Function::new("update-chat")
        .description("Rename a chat, or end or reopen it")
        .dynamodb(&[GetItem, UpdateItem, Query])
        .indexes(),
    Function::new("delete-chat").description("Delete one chat").dynamodb(&[
        GetItem,
        UpdateItem,
        DeleteItem,
        Query,
        BatchWriteItem,
    ]),
    Function::new("list-messages")
        .description("A chat's messages, oldest first")
        .dynamodb(&[GetItem, Query])
        .indexes()
        .signs_cursors(),
    Function::new("edit-message")
        .description("Edit a message (answering it again, or as a new branch) and switch branches")
        .dynamodb(CONVERSATION)
        .indexes()
        .reads_keys()
        .invokes_inference(),
    Function::new("regenerate-reply")
        .description("Answer the chat's last user message again")
        .dynamodb(CONVERSATION)
        .indexes()
        .reads_keys()
        .invokes_inference(),
    Function::new("api-keys")
        .description("Create, list and revoke personal API keys")
        .dynamodb(&[GetItem, PutItem, UpdateItem, DeleteItem, Query]),
    Function::new("export-chats")
        .description("The caller's chats with their trees, as one document")
        .dynamodb(&[GetItem, Query])
        .indexes()
        .signs_cursors(),
    Function::new("import-chats")
        .description("New chats from an export or a ChatGPT conversations.json")
        .dynamodb(&[
            GetItem,
            PutItem,
            UpdateItem,
            DeleteItem,
            Query,
            ConditionCheckItem,
            BatchWriteItem,
        ]),
    // A snapshot reads the chat's messages (by time), then writes the link's three
    // items in one transaction that checks the chat is still there; revoking
    // deletes them in another. UpdateItem: the write rate limit's counter.
    Function::new("shares")
        .description("Create, list and revoke share links")
        .dynamodb(&[GetItem, Query, PutItem, UpdateItem, DeleteItem, ConditionCheckItem])
        .indexes()
        .signs_cursors(),
    // Public: reads a snapshot and its owner's profile, nothing else.
    Function::new("get-shared")
        .description("A shared chat's snapshot, read without signing in")
        .dynamodb(&[GetItem]),
    Function::new("get-usage")
        .description("The caller's usage by day, model and API key")
        .dynamodb(&[GetItem, Query]),
    // Every user's usage is a scan of the table: an operator's view.
    Function::new("admin-usage")
        .description("Every user's usage totals (admins only)")
        .dynamodb(&[GetItem, Scan]),
    Function::new("get-tokens")
        .description("The token balance")
        .dynamodb(BALANCE),
    Function::new("list-models")
        .description("Every provider/model and whether it is available")
        .dynamodb(&[GetItem])
        .reads_keys()
        .names_inference(),
    Function::new("get-openapi").description("This document"),
    Function::new("health")
        .description("Liveness and store reachability")
        .dynamodb(&[GetItem]),
    Function::new(FALLBACK_FUNCTION).description("Answer unmatched routes: 404, or 405 with Allow"),
    Function::new("stream-chat")
        .description("Send a message and stream the reply: server-sent events, or plain text for dialect E")
        .dynamodb(CONVERSATION)
        .indexes()
        .reads_keys()
        .invokes_inference()
        .streams()
        .timeout(STREAMING_TIMEOUT)
        .env(STREAMING_ENV),
    // One Function URL is the OpenAI clients' base URL (…/v1) for both routes.
    Function::new("openai-api")
        .description("OpenAI-compatible chat completions (streamed or whole) and model list")
        .dynamodb(&[GetItem, PutItem, UpdateItem, DeleteItem, Query])
        .indexes()
        .reads_keys()
        .invokes_inference()
        .streams()
        .timeout(STREAMING_TIMEOUT)
        .env(STREAMING_ENV),
    Function::new("web-page")
        .description("The web chat page and its files")
        .names_stream_url(),
];

/// The entry of [`FUNCTIONS`] called `name`.
pub fn function(name: &str) -> Option<&'static Function> {
    FUNCTIONS.iter().find(|f| f.name == name)
}
