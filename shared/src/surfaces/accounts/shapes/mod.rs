//! The request and response shapes of the accounts surface; they derive their
//! OpenAPI schemas, so the document cannot drift from the code.

pub mod api_keys;
pub mod users;
