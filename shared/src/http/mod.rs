//! Turning Lambda HTTP events into typed inputs and typed results into responses,
//! written once for every route.

pub mod body;
pub mod body_shape;
pub mod budget;
pub mod call;
pub mod cookie;
pub mod cors;
pub mod csrf;
pub mod cursor;
pub mod idempotency;
pub mod pagination;
pub mod reply;
pub mod route;
pub mod stream;
