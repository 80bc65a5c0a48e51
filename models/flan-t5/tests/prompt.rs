//! Prompt rendering measured with the fixture's real tokenizer.

mod common;

use flan_t5::prompt::{render_chat, title_prompt, Turn, DEFAULT_ENCODER_BUDGET};
use flan_t5::GenerateOptions;

fn conversation(rounds: usize) -> Vec<Turn> {
    let mut turns = Vec::new();
    for i in 0..rounds {
        turns.push(Turn::user(format!("Question {i}: why does the sky look blue?")));
        turns.push(Turn::assistant(format!(
            "Answer {i}: the cat reads a long letter every day."
        )));
    }
    turns.push(Turn::user("Could you recommend a good book about history?"));
    turns
}

#[test]
fn long_history_is_cut_from_the_oldest_end_to_fit_the_budget() {
    let engine = common::engine();
    let count = |t: &str| engine.count_tokens(t);
    let turns = conversation(40);
    let everything = render_chat(&turns, usize::MAX, count).unwrap();
    assert_eq!(everything.turns_kept, turns.len());
    assert!(everything.tokens > DEFAULT_ENCODER_BUDGET, "history must overflow");

    let p = render_chat(&turns, DEFAULT_ENCODER_BUDGET, count).unwrap();
    assert!(p.tokens <= DEFAULT_ENCODER_BUDGET);
    assert_eq!(p.tokens, engine.encode(&p.text).unwrap().len());
    assert!(p.turns_kept > 1 && p.turns_kept < turns.len());
    assert!(!p.newest_truncated);
    assert!(p
        .text
        .ends_with("User: Could you recommend a good book about history?\nAssistant:"));
    // The kept turns are exactly the most recent ones.
    let first_kept = &turns[turns.len() - p.turns_kept];
    assert!(p.text.contains(&first_kept.text));
    let first_dropped = &turns[turns.len() - p.turns_kept - 1];
    assert!(!p.text.contains(&first_dropped.text));
    // One more turn would not have fitted.
    let one_more = render_chat(&turns[turns.len() - p.turns_kept - 1..], usize::MAX, count).unwrap();
    assert!(one_more.tokens > DEFAULT_ENCODER_BUDGET);
}

#[test]
fn an_oversized_newest_message_keeps_its_end() {
    let engine = common::engine();
    let count = |t: &str| engine.count_tokens(t);
    let filler = "the old man visits the river every day. ".repeat(60);
    let message = format!("{filler}So what should I do next?");
    let turns = [Turn::assistant("Hello!"), Turn::user(message)];
    let p = render_chat(&turns, 128, count).unwrap();
    assert!(p.newest_truncated);
    assert_eq!(p.turns_kept, 1);
    assert!(p.tokens <= 128 && p.tokens > 100, "{}", p.tokens);
    assert!(p.text.ends_with("So what should I do next?\nAssistant:"));
    assert!(!p.text.contains("Hello!"));
}

#[test]
fn title_prompt_fits_and_generates() {
    let engine = common::engine();
    let count = |t: &str| engine.count_tokens(t);
    let long = "Is it going to be sunny tomorrow in Paris? ".repeat(100);
    let prompt = title_prompt(&long, DEFAULT_ENCODER_BUDGET, count).unwrap();
    assert!(engine.count_tokens(&prompt) <= DEFAULT_ENCODER_BUDGET);
    assert!(prompt.contains("at most 5 words"));
    assert!(prompt.contains("\n\nIs it going to be sunny"));
    assert!(prompt.ends_with("\n\nTitle:"));
    let out = engine
        .generate(
            &prompt,
            &GenerateOptions {
                max_new_tokens: 8,
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(out.prompt_tokens, engine.count_tokens(&prompt));
}
