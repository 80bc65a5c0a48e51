//! The request and response shapes of the service surface; they derive their
//! OpenAPI schemas, so the document cannot drift from the code.

pub mod status;
pub mod usage;
