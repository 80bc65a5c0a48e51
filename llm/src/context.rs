//! Which turns of a chat a model sees: the newest ones, kept newest first, until
//! the model's input budget (in its own tokens) or the turn cap is reached. Never
//! the oldest N: a long chat must still answer its latest question.

use super::Turn;

/// `history` is newest first and starts with the user message being answered,
/// which is always kept, even alone over budget (the provider truncates it then).
/// Returns the chosen turns oldest first, as models read them.
pub fn select(history: &[Turn], budget: usize, max_turns: usize, count_tokens: impl Fn(&str) -> usize) -> Vec<Turn> {
    let mut chosen = Vec::new();
    let mut used = 0;
    for (index, turn) in history.iter().enumerate() {
        if index > 0 && chosen.len() >= max_turns {
            break;
        }
        let cost = count_tokens(&turn.content) + PER_TURN_OVERHEAD;
        if index > 0 && used + cost > budget {
            break;
        }
        used += cost;
        chosen.push(turn.clone());
    }
    // A context that opens with a reply has lost the question it answered.
    while chosen.len() > 1 && chosen.last().is_some_and(|t| t.role == crate::Role::Assistant) {
        chosen.pop();
    }
    chosen.reverse();
    chosen
}

/// Tokens a turn costs beyond its text (a role marker and separators).
const PER_TURN_OVERHEAD: usize = 2;

#[cfg(test)]
mod tests {
    use super::*;

    fn words(n: usize) -> String {
        vec!["word"; n].join(" ")
    }

    fn count(text: &str) -> usize {
        text.split_whitespace().count()
    }

    fn history(n: usize) -> Vec<Turn> {
        // Newest first: u{n-1}, a{n-2}, ...
        (0..n)
            .rev()
            .map(|i| {
                if i % 2 == 0 {
                    Turn::user(format!("u{i}"))
                } else {
                    Turn::assistant(format!("a{i}"))
                }
            })
            .collect()
    }

    #[test]
    fn keeps_the_newest_turns_in_reading_order() {
        let chosen = select(&history(9), 1000, 3, count);
        let contents: Vec<_> = chosen.iter().map(|t| t.content.as_str()).collect();
        assert_eq!(contents, ["u6", "a7", "u8"]);
    }

    #[test]
    fn stops_at_the_token_budget() {
        let history = vec![Turn::user(words(10)), Turn::assistant(words(10)), Turn::user(words(10))];
        // 12 + 12 fits in 30; the third turn would not.
        let chosen = select(&history, 30, 20, count);
        assert_eq!(chosen.len(), 1, "a dangling assistant turn is dropped");
        assert_eq!(chosen[0].role, crate::Role::User);
    }

    #[test]
    fn the_newest_user_message_is_kept_even_over_budget() {
        let chosen = select(&[Turn::user(words(500))], 10, 20, count);
        assert_eq!(chosen.len(), 1);
    }

    #[test]
    fn the_context_never_opens_with_a_reply() {
        // The cap of four reaches back to a5, a reply whose question is cut off.
        let chosen = select(&history(9), 1000, 4, count);
        let contents: Vec<_> = chosen.iter().map(|t| t.content.as_str()).collect();
        assert_eq!(contents, ["u6", "a7", "u8"]);
    }
}
