"""CTranslate2 int8 against its own float32, teacher-forced: `bench agree` for CTranslate2.

    python ct2_agree.py CT2_F32_DIR CT2_INT8_DIR [--prompts 50] [--steps 32] [--threads 2]

The directories are one checkpoint converted by `ct2-transformers-converter`
with --quantization float32 and int8 (compare.py makes both, as ct2-float32
and ct2-int8 beside the checkpoint). The prompts are `bench agree`'s
(examples/bench.rs, agreement_prompt). float32 decodes each greedily, never
picking pad or end of sequence (as bench.rs's rule: never ids 0 and 1); int8
is then given float32's tokens as a target prefix, and CTranslate2 returns the
logits of every step, prefix included, so each step compares the two on the
same history. Prints one JSON line with the same fields as `bench agree`:
top-1 agreement over the whole vocabulary, and the largest logit difference
relative to the float32 logits' spread (pad and end of sequence, which
CTranslate2 returns suppressed, left out of both; bench.rs compares over the
whole vocabulary, where f32 rarely picks them).
"""

import argparse
import json
import os

import ctranslate2
import numpy as np


def agreement_prompt(i):
    # examples/bench.rs, agreement_prompt.
    length = 16 + (i * 37) % 112
    stride = 97 + 2 * i
    return [3 + (j * stride + 11 * i) % 32000 for j in range(length - 1)] + [1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("f32_dir")
    ap.add_argument("int8_dir")
    ap.add_argument("--prompts", type=int, default=50)
    ap.add_argument("--steps", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    with open(os.path.join(args.f32_dir, "shared_vocabulary.json")) as f:
        vocab = json.load(f)
    exact = ctranslate2.Translator(args.f32_dir, device="cpu", compute_type="float32", intra_threads=args.threads)
    quantized = ctranslate2.Translator(args.int8_dir, device="cpu", compute_type="int8", intra_threads=args.threads)
    pad = vocab[0]
    options = dict(beam_size=1, max_decoding_length=args.steps, min_decoding_length=args.steps,
                   suppress_sequences=[[pad]], return_logits_vocab=True)
    steps = same = all_same_prompts = 0
    relative = []
    for i in range(args.prompts):
        source = [[vocab[t] for t in agreement_prompt(i)]]
        e = exact.translate_batch(source, **options)[0]
        tokens = e.hypotheses[0]
        q = quantized.translate_batch(source, target_prefix=[tokens], **options)[0]
        if q.hypotheses[0] != tokens:
            raise SystemExit(f"prompt {i}: int8 did not keep float32's tokens as its prefix")
        all_same = True
        for el, ql in zip(e.logits[0], q.logits[0]):
            # Pad and end of sequence come back at -FLT_MAX (suppressed); the
            # spread and the differences are over the other ids.
            el = np.asarray(el, dtype="<f4").astype(np.float64)[2:]
            ql = np.asarray(ql, dtype="<f4").astype(np.float64)[2:]
            relative.append(float(np.abs(el - ql).max() / (el.max() - el.min())))
            steps += 1
            if int(np.argmax(el)) == int(np.argmax(ql)):
                same += 1
            else:
                all_same = False
        all_same_prompts += all_same
    relative.sort()
    print(json.dumps({
        "impl": "ct2-int8 vs ct2-float32",
        "versions": {"ctranslate2": ctranslate2.__version__},
        "prompts": args.prompts,
        "steps": steps,
        "top1_agreement": same / steps,
        "prompts_with_every_step_agreeing": all_same_prompts,
        "max_logit_diff_over_spread": relative[-1],
        "median_logit_diff_over_spread": relative[len(relative) // 2],
        "p95_logit_diff_over_spread": relative[len(relative) * 95 // 100],
    }))


if __name__ == "__main__":
    main()
