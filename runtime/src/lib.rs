//! The lowest layer every binary links: AWS settings and lazily built clients
//! (`aws`, feature `aws`), and the one logging set-up (`logs`). It knows nothing of chats, stores
//! or models, so the inference function can link it without the API's layers.

#[cfg(feature = "aws")]
pub mod aws;
pub mod logs;
