//! Pagination cursors: opaque, signed, and bound to the caller and the list they
//! came from. A cursor names the last record of the previous page; without a
//! signature a client could hand in any record's id (another user's chat, a message
//! of another chat) and learn from the page it gets where that record sorts. The
//! signature is an HMAC over the list, the user and the record, so a cursor that was
//! altered, or that came from another user or another list, is refused (400).
//!
//! Format: base64url(record id (16 bytes) ‖ first 16 bytes of HMAC-SHA256). The key
//! is `CURSOR_KEY`; changing it invalidates the cursors given out before.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use uuid::Uuid;

use crate::config::CursorKey;
use crate::error::ApiError;

/// Bytes of the MAC kept: 128 bits are far beyond what guessing can reach.
const TAG_LEN: usize = 16;
/// Bytes of a decoded cursor: the record id and the tag.
const CURSOR_LEN: usize = 16 + TAG_LEN;
/// Separates this use of the key from any other, and lets the format change later.
const DOMAIN: &[u8] = b"chatbot-api cursor v1";

/// Which list a cursor belongs to: a user's list of chats, or the messages of one chat.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum List {
    Chats,
    Messages {
        chat_id: Uuid,
    },
    /// A user's share links.
    Shares,
}

impl List {
    fn write_to(self, mac: &mut Hmac<Sha256>) {
        match self {
            List::Chats => mac.update(b"chats\0"),
            List::Shares => mac.update(b"shares\0"),
            List::Messages { chat_id } => {
                mac.update(b"messages\0");
                mac.update(chat_id.as_bytes());
            }
        }
    }
}

/// Signs and checks the cursors of one list of one user.
#[derive(Clone, Copy, Debug)]
pub struct CursorScope<'a> {
    pub key: &'a CursorKey,
    pub user_id: Uuid,
    pub list: List,
}

impl CursorScope<'_> {
    /// The MAC over this scope and `record`, before it is finished or checked.
    fn mac(&self, record: Uuid) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(self.key.bytes()).expect("HMAC takes a key of any length");
        mac.update(DOMAIN);
        self.list.write_to(&mut mac);
        mac.update(self.user_id.as_bytes());
        mac.update(record.as_bytes());
        mac
    }

    fn tag(&self, record: Uuid) -> [u8; TAG_LEN] {
        let full = self.mac(record).finalize().into_bytes();
        let mut tag = [0; TAG_LEN];
        tag.copy_from_slice(&full[..TAG_LEN]);
        tag
    }

    pub fn encode(&self, record: Uuid) -> String {
        let mut bytes = Vec::with_capacity(CURSOR_LEN);
        bytes.extend_from_slice(record.as_bytes());
        bytes.extend_from_slice(&self.tag(record));
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// The record a cursor names, if this scope signed it; any other string is a 400
    /// naming the field.
    pub fn decode(&self, cursor: &str) -> Result<Uuid, ApiError> {
        self.verified(cursor.trim())
            .ok_or_else(|| ApiError::invalid_field("cursor", "The cursor is not one this API gave out for this list."))
    }

    fn verified(&self, cursor: &str) -> Option<Uuid> {
        // A cursor is 43 characters; anything much longer is refused before decoding.
        if cursor.len() > 64 {
            return None;
        }
        let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
        if bytes.len() != CURSOR_LEN {
            return None;
        }
        let record = Uuid::from_slice(&bytes[..16]).ok()?;
        // Constant time: the comparison does not tell how much of a forged tag is right.
        self.mac(record).verify_truncated_left(&bytes[16..]).ok()?;
        Some(record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(key: &CursorKey, user_id: Uuid, list: List) -> CursorScope<'_> {
        CursorScope { key, user_id, list }
    }

    #[test]
    fn a_cursor_round_trips_in_its_own_scope() {
        let key = CursorKey::random();
        let (user, record) = (Uuid::now_v7(), Uuid::now_v7());
        let chats = scope(&key, user, List::Chats);
        let cursor = chats.encode(record);
        assert_eq!(cursor.len(), 43);
        assert_eq!(chats.decode(&cursor).unwrap(), record);
        assert_eq!(chats.decode(&format!(" {cursor} ")).unwrap(), record);
    }

    #[test]
    fn a_cursor_of_another_user_list_chat_or_key_is_refused() {
        let key = CursorKey::random();
        let (user, other_user, record) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let (chat_a, chat_b) = (Uuid::now_v7(), Uuid::now_v7());
        let cursor = scope(&key, user, List::Messages { chat_id: chat_a }).encode(record);
        let refused = [
            scope(&key, other_user, List::Messages { chat_id: chat_a }),
            scope(&key, user, List::Messages { chat_id: chat_b }),
            scope(&key, user, List::Chats),
        ];
        for other in refused {
            let error = other.decode(&cursor).unwrap_err();
            assert_eq!(error.status.as_u16(), 400);
            assert_eq!(error.body()["field"], "cursor");
        }
        let other_key = CursorKey::random();
        assert!(scope(&other_key, user, List::Messages { chat_id: chat_a })
            .decode(&cursor)
            .is_err());
    }

    #[test]
    fn a_tampered_or_malformed_cursor_is_refused() {
        let key = CursorKey::random();
        let user = Uuid::now_v7();
        let chats = scope(&key, user, List::Chats);
        let cursor = chats.encode(Uuid::now_v7());
        let mut bytes = URL_SAFE_NO_PAD.decode(&cursor).unwrap();
        // Another record with the old tag; the old record with a changed tag.
        for at in [0, 20, 31] {
            bytes[at] ^= 1;
            assert!(chats.decode(&URL_SAFE_NO_PAD.encode(&bytes)).is_err(), "byte {at}");
            bytes[at] ^= 1;
        }
        // The id alone (the old, unsigned format), a cut tag, garbage, and a huge value.
        let unsigned = URL_SAFE_NO_PAD.encode(&bytes[..16]);
        let cut = URL_SAFE_NO_PAD.encode(&bytes[..31]);
        for bad in [
            unsigned.as_str(),
            cut.as_str(),
            "",
            "not a cursor",
            "%%%%",
            &"A".repeat(10_000),
        ] {
            assert!(chats.decode(bad).is_err(), "{bad:.20}");
        }
    }

    #[test]
    fn the_key_never_shows_in_debug_output() {
        let key = CursorKey::new(b"hunter2-hunter2-hunter2".to_vec());
        assert!(!format!("{key:?}").contains("hunter2"));
    }
}
