//! A chat's title: at most five words, asked of the model, or else the first words
//! of the first message.

use super::Provider;

pub const MAX_TITLE_WORDS: usize = 5;

pub fn prompt(first_message: &str) -> String {
    format!("Write a title of at most {MAX_TITLE_WORDS} words for a conversation that starts with: {first_message}")
}

/// Cleans a model's title: no quotes or trailing punctuation, at most five words.
/// `None` when nothing usable is left.
pub fn clean(raw: &str) -> Option<String> {
    let line = raw.lines().find(|l| !l.trim().is_empty())?;
    let line = line.trim().trim_start_matches("Title:").trim_start_matches("title:");
    let trimmed = line.trim_matches(|c: char| c.is_whitespace() || "\"'`*#.:;!,".contains(c));
    let title = first_words(trimmed);
    (!title.is_empty()).then_some(title)
}

pub fn first_words(text: &str) -> String {
    text.split_whitespace()
        .take(MAX_TITLE_WORDS)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Asks `provider` for a title, falling back to the message's first words on any
/// failure: a title is never worth failing a chat over.
pub async fn generate(provider: &dyn Provider, model: &str, first_message: &str) -> String {
    match provider.title(model, first_message).await {
        Ok(raw) => clean(&raw).unwrap_or_else(|| first_words(first_message)),
        Err(err) => {
            tracing::info!(error = %err, "title generation failed; using the first words");
            first_words(first_message)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_are_cleaned_and_capped() {
        assert_eq!(
            clean("\"Planning a Trip to Paris in Spring\"").unwrap(),
            "Planning a Trip to Paris"
        );
        assert_eq!(clean("Title: Rust lifetimes.").unwrap(), "Rust lifetimes");
        assert_eq!(clean("  \n  "), None);
        assert_eq!(clean("\"...\""), None);
    }

    #[test]
    fn first_words_fallback() {
        assert_eq!(first_words("how do I bake a loaf of bread"), "how do I bake a");
        assert_eq!(first_words("  hi  "), "hi");
    }
}
