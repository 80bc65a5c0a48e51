"""One CTranslate2 measurement in a fresh process, for compare.py.

    python ct2_worker.py CT2_DIR PROMPT_LEN STEPS REPEATS [LOGITS_OUT]

CT2_DIR is a model converted by `ct2-transformers-converter` from the same
checkpoint candle and PyTorch read; CT2_COMPUTE_TYPE picks float32 or int8
(default float32) and CT2_THREADS the intra-op threads (default 2). Timed from
the moment compare.py spawned this interpreter, like torch_worker.py.

Decoding is greedy (beam 1, no sampling) and takes exactly STEPS tokens: the
end of sequence is forbidden before STEPS (min_decoding_length) and the pad /
start token is suppressed, as bench.rs and torch_worker.py never pick ids 0
and 1. CTranslate2 has no public encoder-only call for T5, so the encoder
pass is measured as a 1-token translation less one decoding step (the
difference between a 1-token and a (STEPS+1)-token translation, over STEPS).
Prints one JSON line on stdout, the greedy tokens included.

LOGITS_OUT receives the first step's logits (return_logits_vocab) as raw f32.
"""

import json
import os
import sys
import time

import ctranslate2


def prompt_ids(n):
    # Same ids as examples/bench.rs and torch_worker.py.
    return [3 + i * 97 % 32000 for i in range(n - 1)] + [1]


def main():
    model_dir, prompt_len, steps, repeats = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    compute_type = os.environ.get("CT2_COMPUTE_TYPE", "float32")
    threads = int(os.environ.get("CT2_THREADS", "2"))
    translator = ctranslate2.Translator(model_dir, device="cpu", compute_type=compute_type,
                                        inter_threads=1, intra_threads=threads)
    ready = time.time()
    vocab_path = os.path.join(model_dir, "shared_vocabulary.json")
    if os.path.exists(vocab_path):
        with open(vocab_path) as f:
            vocab = json.load(f)
    else:
        with open(os.path.join(model_dir, "shared_vocabulary.txt")) as f:
            vocab = [line.rstrip("\n") for line in f]
    index = {token: i for i, token in enumerate(vocab)}
    source = [[vocab[i] for i in prompt_ids(prompt_len)]]
    pad = vocab[0]

    def translate(n, logits=False):
        start = time.perf_counter()
        result = translator.translate_batch(
            source, beam_size=1, max_decoding_length=n, min_decoding_length=n,
            suppress_sequences=[[pad]], return_scores=False, return_logits_vocab=logits)
        return time.perf_counter() - start, result[0]

    translate(4)  # warm-up, as in bench.rs
    translate(1)
    encode_ms, decode_tok_s = [], []
    for _ in range(repeats):
        # The shortest of 5 one-token translations: a few ms of noise on a
        # shared machine would otherwise swing the difference below.
        one = min(translate(1)[0] for _ in range(5))
        full, result = translate(steps + 1)
        step = (full - one) / steps
        encode_ms.append(max(one - step, 0.0) * 1e3)
        decode_tok_s.append(1.0 / step)
    tokens = [index[t] for t in result.hypotheses[0][:steps]]
    if len(sys.argv) > 5:
        _, first = translate(1, logits=True)
        import numpy as np
        np.asarray(first.logits[0][0], dtype="<f4").tofile(sys.argv[5])
    print(json.dumps({
        "impl": f"ct2-{compute_type}",
        "versions": {"ctranslate2": ctranslate2.__version__},
        "threads": threads,
        "ready_unix": ready,
        "encode_ms": encode_ms,
        "decode_tok_s": decode_tok_s,
        "tokens": tokens,
    }))


if __name__ == "__main__":
    main()
