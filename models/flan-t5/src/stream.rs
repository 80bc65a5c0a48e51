//! Incremental detokenisation for streaming replies.
//!
//! A token is not a unit of text: a character can span several byte-level
//! tokens and the word-boundary marker only turns into a space once the next
//! word arrives. So each step decodes the whole reply so far and releases
//! only the part that extends what was already sent and is not an
//! unfinished character.

use crate::error::{Error, Result};
use tokenizers::Tokenizer;

pub(crate) struct TextStream<'a> {
    tokenizer: &'a Tokenizer,
    ids: Vec<u32>,
    sent: String,
}

impl<'a> TextStream<'a> {
    pub(crate) fn new(tokenizer: &'a Tokenizer) -> Self {
        Self {
            tokenizer,
            ids: Vec::new(),
            sent: String::new(),
        }
    }

    fn text(&self) -> Result<String> {
        self.tokenizer
            .decode(&self.ids, true)
            .map_err(|e| Error::Tokenizer(e.to_string()))
    }

    /// Adds a token and returns newly completed text, if any.
    pub(crate) fn push(&mut self, id: u32) -> Result<Option<String>> {
        self.ids.push(id);
        let text = self.text()?;
        if text.ends_with('\u{FFFD}') {
            return Ok(None);
        }
        Ok(self.release(text))
    }

    /// Releases whatever is left once generation ends.
    pub(crate) fn finish(&mut self) -> Result<Option<String>> {
        let text = self.text()?;
        Ok(self.release(text))
    }

    fn release(&mut self, text: String) -> Option<String> {
        // If decoding ever rewrote earlier text we cannot take it back;
        // wait until the text extends what was sent again.
        if text.len() > self.sent.len() && text.starts_with(&self.sent) {
            let piece = text[self.sent.len()..].to_string();
            self.sent = text;
            Some(piece)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokenizer() -> Tokenizer {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tiny-t5/tokenizer.json");
        Tokenizer::from_file(path).unwrap()
    }

    #[test]
    fn pieces_concatenate_to_the_full_decode() {
        let tok = tokenizer();
        let text = "Why does the sky look blue while sunsets glow orange?";
        let ids = tok.encode(text, false).unwrap().get_ids().to_vec();
        let mut stream = TextStream::new(&tok);
        let mut out = String::new();
        for &id in &ids {
            if let Some(piece) = stream.push(id).unwrap() {
                out.push_str(&piece);
            }
        }
        if let Some(rest) = stream.finish().unwrap() {
            out.push_str(&rest);
        }
        assert_eq!(out, tok.decode(&ids, true).unwrap());
        assert_eq!(out, text);
    }

    #[test]
    fn special_tokens_produce_no_text() {
        let tok = tokenizer();
        let mut stream = TextStream::new(&tok);
        assert_eq!(stream.push(0).unwrap(), None);
        assert_eq!(stream.finish().unwrap(), None);
    }
}
