//! Bodies that fit a Lambda response. Lambda refuses a function's response over
//! 6 MB (API Gateway then answers 502 to a client that did nothing wrong), and a
//! chat's messages can hold far more: 16 000 characters each, up to six bytes a
//! character once JSON-escaped. So every body that carries message text is built
//! against a byte budget: lists end their page early (the next page starts where
//! the body stopped), and a conversation inside a chat is cut and marked so.

use serde::Serialize;

/// Bytes of message-bearing values one body may carry. The rest of Lambda's 6 MB
/// (about 1 MB) is room for the fields around them: a page holds at most 100
/// records of well under 2 KB besides their text, plus headers.
pub const BODY_BUDGET: usize = 5 * 1024 * 1024;

/// What is left of one body's budget.
#[derive(Debug)]
pub struct Budget {
    left: usize,
}

impl Budget {
    /// The budget of a whole response body.
    pub fn body() -> Self {
        Self::bytes(BODY_BUDGET)
    }

    pub fn bytes(left: usize) -> Self {
        Self { left }
    }

    pub fn left(&self) -> usize {
        self.left
    }

    /// Takes `value`'s size as JSON from what is left; `false`, taking nothing,
    /// when it does not fit.
    pub fn take<T: Serialize>(&mut self, value: &T) -> bool {
        // The comma or bracket that joins it to its neighbours counts too.
        let size = json_len(value) + 1;
        if size > self.left {
            return false;
        }
        self.left -= size;
        true
    }

    /// The leading values that fit, in order; the first is kept even when it alone
    /// is over (a list page is never empty while records remain), so callers bound
    /// each value's own size. The flag says whether any was left out.
    pub fn take_leading<T: Serialize>(&mut self, values: impl IntoIterator<Item = T>) -> (Vec<T>, bool) {
        let mut kept = Vec::new();
        for value in values {
            if !self.take(&value) {
                if !kept.is_empty() {
                    return (kept, true);
                }
                self.left = 0;
            }
            kept.push(value);
        }
        (kept, false)
    }
}

/// The length of `value` serialised as JSON, counted without building the text.
pub fn json_len<T: Serialize>(value: &T) -> usize {
    struct Counter(usize);
    impl std::io::Write for Counter {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0 += bytes.len();
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter(0);
    // Our views serialise infallibly (no maps with non-string keys); a failure would
    // fail the response's own serialisation later, loudly.
    let _ = serde_json::to_writer(&mut counter, value);
    counter.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_len_counts_escapes_as_serialised() {
        for text in ["plain", "quote \" and \\", "\u{1}\u{2}\n\t", "ünïcødé ✓"] {
            assert_eq!(json_len(&text), serde_json::to_string(&text).unwrap().len());
        }
        // A control character takes six bytes: the worst case a message can reach.
        assert_eq!(json_len(&"\u{1}".repeat(10)), 2 + 60);
    }

    #[test]
    fn take_leading_stops_before_the_first_value_that_does_not_fit() {
        let mut budget = Budget::bytes(20);
        // "aaaa" is 6 bytes + 1: two fit in 20, the third does not.
        let (kept, cut) = budget.take_leading(vec!["aaaa", "bbbb", "cccc", "d"]);
        assert_eq!((kept, cut), (vec!["aaaa", "bbbb"], true));
        assert_eq!(budget.left(), 6);
        let (kept, cut) = Budget::bytes(100).take_leading(vec!["x"; 3]);
        assert_eq!((kept.len(), cut), (3, false));
    }

    #[test]
    fn the_first_value_is_kept_even_over_budget() {
        let (kept, cut) = Budget::bytes(3).take_leading(vec!["a long value", "b"]);
        assert_eq!((kept, cut), (vec!["a long value"], true));
    }
}
