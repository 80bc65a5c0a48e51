"""Record reference outputs of Hugging Face transformers for the tiny model.

Writes tests/fixtures/tiny-t5/golden.json, which the Rust tests compare
against token by token and logit by logit. The reference recomputes the
whole decoder prefix at every step (no cache), so it also checks the Rust
key/value caching.

Needs torch, transformers, tokenizers, safetensors (see README.md).
Run from the crate root after make_tiny_model.py: python scripts/make_golden.py
"""

import json
import pathlib
import shutil
import tempfile

import torch
import transformers
from safetensors.torch import load_file, save_file
from tokenizers import Tokenizer
from transformers import T5ForConditionalGeneration
from transformers.models.t5.modeling_t5 import T5Attention

FIXTURE = pathlib.Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "tiny-t5"

LONG_PROMPT = " ".join(
    [
        "User: Please explain how rain forms in the sky.",
        "Assistant: The cat reads a long letter every day.",
        "User: Could you recommend a good book about history or science?",
        "Assistant: Our team builds the red house every day.",
        "User: The weather was cold, so we stayed inside and played chess.",
        "Assistant: A young girl paints the green garden every day.",
        "User: Why does the sky look blue while sunsets glow orange?",
        "Assistant: Kilometres, kilograms and yellow umbrellas were waiting beyond the bridge.",
        "User: Breakfast: eggs, toast, juice; dinner: soup with vegetables.",
        "Assistant: Every student remembers the map every day.",
        "User: Translate to German: good morning, my dear friend.",
    ]
)

# (name, prompt, decode steps, tied lm_head)
CASES = [
    ("short", "What is the capital of France?", 32, False),
    ("title", "Write a title of at most 5 words for a conversation that starts with this message: "
              "Is it going to be sunny tomorrow in Paris?", 32, False),
    ("long", LONG_PROMPT, 40, False),
    ("tied", "Summarize the text below in one sentence.", 24, True),
]


def load_model(tied):
    if not tied:
        model, info = T5ForConditionalGeneration.from_pretrained(FIXTURE, output_loading_info=True)
    else:
        # Original-T5 layout: no lm_head tensor, the head reuses `shared`
        # and the decoder output is scaled by d_model ** -0.5.
        tmp = pathlib.Path(tempfile.mkdtemp())
        cfg = json.loads((FIXTURE / "config.json").read_text())
        cfg["tie_word_embeddings"] = True
        (tmp / "config.json").write_text(json.dumps(cfg))
        weights = load_file(FIXTURE / "model.safetensors")
        del weights["lm_head.weight"]
        save_file(weights, tmp / "model.safetensors", metadata={"format": "pt"})
        model, info = T5ForConditionalGeneration.from_pretrained(tmp, output_loading_info=True)
        shutil.rmtree(tmp)
        assert torch.equal(model.lm_head.weight, model.shared.weight)
    assert not info["missing_keys"] and not info["unexpected_keys"], info
    return model.float().eval()


@torch.no_grad()
def greedy(model, input_ids, steps):
    cfg = model.config
    encoder_ids = torch.tensor([input_ids])
    decoder_ids = [cfg.decoder_start_token_id]
    all_logits = []
    for _ in range(steps):
        out = model(input_ids=encoder_ids, decoder_input_ids=torch.tensor([decoder_ids]), use_cache=False)
        logits = out.logits[0, -1].float()
        all_logits.append([round(float(x), 5) for x in logits])
        masked = logits.clone()
        masked[cfg.eos_token_id] = float("-inf")
        decoder_ids.append(int(torch.argmax(masked)))
    return decoder_ids[1:], all_logits


def buckets(bidirectional, positions):
    rel = torch.tensor(positions)
    return T5Attention._relative_position_bucket(
        rel, bidirectional=bidirectional, num_buckets=32, max_distance=128
    ).tolist()


def main():
    tok = Tokenizer.from_file(str(FIXTURE / "tokenizer.json"))
    cases = []
    for name, prompt, steps, tied in CASES:
        ids = tok.encode(prompt).ids
        tokens, logits = greedy(load_model(tied), ids, steps)
        cases.append({
            "name": name,
            "prompt": prompt,
            "tie_word_embeddings": tied,
            "input_ids": ids,
            "output_ids": tokens,
            "logits": logits,
        })
        print(f"{name}: {len(ids)} input tokens, output {tokens}")
    positions = list(range(-300, 301))
    golden = {
        "generator": f"transformers {transformers.__version__}, torch {torch.__version__}",
        "relative_positions": positions,
        "buckets_bidirectional": buckets(True, positions),
        "buckets_unidirectional": buckets(False, positions),
        "cases": cases,
    }
    text = json.dumps(golden, separators=(",", ":"))
    # One logits row per line keeps diffs of the file readable.
    text = text.replace("],[", "],\n[")
    (FIXTURE / "golden.json").write_text(text + "\n")


if __name__ == "__main__":
    main()
