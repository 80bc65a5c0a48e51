//! Provider answers in each provider's own wire format (from their public API
//! references), for the fake servers of the provider tests.

use crate::fake_http::Answer;
use serde_json::{json, Value};

pub fn openai_completion(text: &str, prompt_tokens: u32, completion_tokens: u32) -> Answer {
    Answer::json(
        200,
        &json!({
            "id": "chatcmpl-test", "object": "chat.completion", "created": 1_700_000_000, "model": "gpt-4o-mini",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "logprobs": null, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens, "total_tokens": prompt_tokens + completion_tokens}
        }),
    )
}

pub fn openai_stream(pieces: &[&str], usage: (u32, u32)) -> Answer {
    let mut lines: Vec<String> = pieces
        .iter()
        .map(|p| {
            let chunk = json!({"id": "chatcmpl-test", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini",
                "choices": [{"index": 0, "delta": {"content": p}, "finish_reason": null}]});
            format!("data: {chunk}\n\n")
        })
        .collect();
    let last = json!({"id": "chatcmpl-test", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini", "choices": [],
        "usage": {"prompt_tokens": usage.0, "completion_tokens": usage.1, "total_tokens": usage.0 + usage.1}});
    lines.push(format!("data: {last}\n\n"));
    lines.push("data: [DONE]\n\n".to_string());
    Answer::stream("text/event-stream", &lines)
}

pub fn openai_error(status: u16, message: &str) -> Answer {
    Answer::json(
        status,
        &json!({"error": {"message": message, "type": "invalid_request_error", "param": null, "code": null}}),
    )
}

fn gemini_body(text: &str, finished: bool, usage: Option<(u32, u32)>) -> Value {
    let mut candidate = json!({"content": {"parts": [{"text": text}], "role": "model"}, "index": 0});
    if finished {
        candidate["finishReason"] = json!("STOP");
    }
    let mut body = json!({"candidates": [candidate], "modelVersion": "gemini-1.5-flash"});
    if let Some((prompt, completion)) = usage {
        body["usageMetadata"] = json!({"promptTokenCount": prompt, "candidatesTokenCount": completion, "totalTokenCount": prompt + completion});
    }
    body
}

pub fn gemini_response(text: &str, prompt_tokens: u32, completion_tokens: u32) -> Answer {
    Answer::json(200, &gemini_body(text, true, Some((prompt_tokens, completion_tokens))))
}

pub fn gemini_stream(pieces: &[&str], usage: (u32, u32)) -> Answer {
    let lines: Vec<String> = pieces
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let last = i + 1 == pieces.len();
            format!("data: {}\r\n\r\n", gemini_body(p, last, last.then_some(usage)))
        })
        .collect();
    Answer::stream("text/event-stream", &lines)
}

pub fn gemini_error(status: u16, reason: &str) -> Answer {
    Answer::json(
        status,
        &json!({"error": {"code": status, "message": "Request failed.", "status": reason}}),
    )
}

pub fn ollama_reply(text: &str, prompt_tokens: u32, completion_tokens: u32) -> Answer {
    Answer::json(
        200,
        &json!({"model": "llama3", "created_at": "2024-07-01T00:00:00Z", "message": {"role": "assistant", "content": text},
            "done_reason": "stop", "done": true, "total_duration": 1, "load_duration": 1,
            "prompt_eval_count": prompt_tokens, "prompt_eval_duration": 1, "eval_count": completion_tokens, "eval_duration": 1}),
    )
}

pub fn ollama_stream(pieces: &[&str], usage: (u32, u32)) -> Answer {
    let mut lines: Vec<String> = pieces
        .iter()
        .map(|p| {
            format!("{}\n", json!({"model": "llama3", "created_at": "2024-07-01T00:00:00Z", "message": {"role": "assistant", "content": p}, "done": false}))
        })
        .collect();
    lines.push(format!(
        "{}\n",
        json!({"model": "llama3", "created_at": "2024-07-01T00:00:00Z", "message": {"role": "assistant", "content": ""}, "done": true,
            "done_reason": "stop", "prompt_eval_count": usage.0, "eval_count": usage.1})
    ));
    Answer::stream("application/x-ndjson", &lines)
}
