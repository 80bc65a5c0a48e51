"""One PyTorch measurement in a fresh process, for compare.py.

Timed from the moment compare.py spawned this interpreter: importing torch
and transformers is part of what a cold start costs with PyTorch. Prints one
JSON line on stdout; greedy tokens go there too so compare.py can check that
both implementations computed the same thing.

    python torch_worker.py MODEL_DIR PROMPT_LEN STEPS REPEATS [LOGITS_OUT]

Threads: TORCH_BENCH_THREADS=N calls torch.set_num_threads(N); unset or
"default" leaves PyTorch's own choice (its physical-core count, or
OMP_NUM_THREADS when that is set).

LOGITS_OUT receives the first step's logits as raw little-endian f32.
"""

import json
import os
import sys
import time

import torch
from transformers import T5ForConditionalGeneration



def prompt_ids(n):
    # Same ids as examples/bench.rs: spread over the vocabulary, ending in </s>.
    return [3 + i * 97 % 32000 for i in range(n - 1)] + [1]


@torch.inference_mode()
def decode(model, encoded, steps):
    """Greedy decoding with the key/value cache, as generate() does it, but
    without generate()'s bookkeeping; ids 0 (pad/start) and 1 (</s>) are
    never chosen, so every run produces exactly `steps` tokens."""
    token = torch.tensor([[model.config.decoder_start_token_id]])
    past = None
    tokens, first = [], None
    for _ in range(steps):
        out = model(encoder_outputs=(encoded,), decoder_input_ids=token, past_key_values=past, use_cache=True)
        past = out.past_key_values
        logits = out.logits[0, -1]
        if first is None:
            first = logits.clone()
        logits[:2] = float("-inf")
        next_id = int(torch.argmax(logits))
        tokens.append(next_id)
        token = torch.tensor([[next_id]])
    return tokens, first


def main():
    model_dir, prompt_len, steps, repeats = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    threads = os.environ.get("TORCH_BENCH_THREADS", "default")
    if threads != "default":
        torch.set_num_threads(int(threads))
    model = T5ForConditionalGeneration.from_pretrained(model_dir, dtype=torch.float32).eval()
    ready = time.time()

    ids = torch.tensor([prompt_ids(prompt_len)])
    with torch.inference_mode():
        decode(model, model.encoder(input_ids=ids).last_hidden_state, 4)  # warm-up, as in bench.rs
        encode_ms, decode_tok_s = [], []
        for _ in range(repeats):
            start = time.perf_counter()
            encoded = model.encoder(input_ids=ids).last_hidden_state
            encode_ms.append((time.perf_counter() - start) * 1e3)
            start = time.perf_counter()
            tokens, first = decode(model, encoded, steps)
            decode_tok_s.append(steps / (time.perf_counter() - start))
    if len(sys.argv) > 5:
        first.numpy().astype("<f4").tofile(sys.argv[5])
    print(json.dumps({
        "impl": "pytorch",
        "versions": {"torch": torch.__version__, "transformers": __import__("transformers").__version__},
        "threads": torch.get_num_threads(),
        "ready_unix": ready,
        "encode_ms": encode_ms,
        "decode_tok_s": decode_tok_s,
        "tokens": tokens,
    }))


if __name__ == "__main__":
    main()
