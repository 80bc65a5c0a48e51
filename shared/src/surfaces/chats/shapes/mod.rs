//! The request and response shapes of the chats surface; they derive their
//! OpenAPI schemas, so the document cannot drift from the code.

pub mod chats;
pub mod shares;
pub mod transfer;
