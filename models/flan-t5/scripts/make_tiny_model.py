"""Build the tiny random-weight T5 used by the Rust tests.

Writes tests/fixtures/tiny-t5/{config.json,tokenizer.json,model.safetensors}.
Same architecture as Flan-T5 (gated-gelu feed-forward, untied lm_head,
relative position buckets) at toy size, so the fixture stays small enough
to commit while every code path of the real model runs.

Needs: numpy, safetensors, tokenizers (see README.md for the venv).
Run from the crate root: python scripts/make_tiny_model.py
"""

import json
import pathlib

import numpy as np
from safetensors.numpy import save_file
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

OUT = pathlib.Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "tiny-t5"
SEED = 20240611
TOKENIZER_VOCAB = 240

SUBJECTS = ["the cat", "my friend", "a small robot", "the teacher", "our team", "the old man",
            "this city", "a young girl", "the chatbot", "every student"]
VERBS = ["likes", "reads", "writes", "finds", "cooks", "paints", "answers", "visits",
         "builds", "remembers"]
OBJECTS = ["a long letter", "fresh bread", "the red house", "many questions", "a quiet song",
           "the green garden", "some pasta", "the river", "a funny story", "the map"]
EXTRA = [
    "What is the capital of France?",
    "Answer the user's last message in this conversation.",
    "Write a title of at most 5 words for a conversation that starts with this message:",
    "User: hello there, how are you today?",
    "Assistant: I am fine, thank you. How can I help?",
    "Please explain how rain forms in the sky.",
    "Translate to German: good morning, my dear friend.",
    "Summarize the text below in one sentence.",
    "Is it going to be sunny tomorrow in Paris?",
    "Numbers like 1, 2, 3 and 42 appear too, along with symbols: ! ? , . : ' \"",
    "Quickly jumping zebras vex the wizard of Oz.",
    "Kilometres, kilograms and yellow umbrellas were waiting beyond the bridge.",
    "Why does the sky look blue while sunsets glow orange?",
    "Could you recommend a good book about history or science?",
    "The weather was cold, so we stayed inside and played chess.",
    "Breakfast: eggs, toast, juice; dinner: soup with vegetables.",
]


def corpus():
    lines = list(EXTRA)
    for i, s in enumerate(SUBJECTS):
        for j, v in enumerate(VERBS):
            o = OBJECTS[(i * 3 + j) % len(OBJECTS)]
            lines.append(f"{s.capitalize()} {v} {o} every day.")
    return lines


def build_tokenizer():
    tok = Tokenizer(models.Unigram())
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="always")
    trainer = trainers.UnigramTrainer(
        vocab_size=TOKENIZER_VOCAB,
        special_tokens=["<pad>", "</s>", "<unk>"],
        unk_token="<unk>",
        max_piece_length=8,
    )
    tok.train_from_iterator(corpus(), trainer)
    # T5 appends </s> to every encoder input.
    tok.post_processor = processors.TemplateProcessing(
        single="$A </s>", pair="$A </s> $B </s>", special_tokens=[("</s>", 1)]
    )
    assert tok.token_to_id("<pad>") == 0
    assert tok.token_to_id("</s>") == 1
    assert tok.token_to_id("<unk>") == 2
    return tok


def config(vocab_size):
    return {
        "architectures": ["T5ForConditionalGeneration"],
        "model_type": "t5",
        "d_model": 32,
        "d_kv": 8,
        "d_ff": 64,
        "num_layers": 2,
        "num_decoder_layers": 2,
        "num_heads": 4,
        "relative_attention_num_buckets": 32,
        "relative_attention_max_distance": 128,
        "vocab_size": vocab_size,
        "feed_forward_proj": "gated-gelu",
        "tie_word_embeddings": False,
        "decoder_start_token_id": 0,
        "eos_token_id": 1,
        "pad_token_id": 0,
        "layer_norm_epsilon": 1e-6,
        "dropout_rate": 0.0,
        "is_encoder_decoder": True,
    }


def weights(cfg):
    """Random weights, scaled so attention is far from uniform, positions
    matter and greedy decoding does not settle on one repeated token."""
    rng = np.random.default_rng(SEED)
    d, kv, ff, h = cfg["d_model"], cfg["d_kv"], cfg["d_ff"], cfg["num_heads"]
    inner = h * kv

    def normal(shape, std):
        return (rng.standard_normal(shape) * std).astype(np.float32)

    def norm_weight():
        return (1.0 + normal((d,), 0.2)).astype(np.float32)

    def attention(prefix, with_bias):
        t = {
            f"{prefix}.q.weight": normal((inner, d), 3.0 * (d * kv) ** -0.5),
            f"{prefix}.k.weight": normal((inner, d), d**-0.5),
            f"{prefix}.v.weight": normal((inner, d), d**-0.5),
            f"{prefix}.o.weight": normal((d, inner), inner**-0.5),
        }
        if with_bias:
            t[f"{prefix}.relative_attention_bias.weight"] = normal(
                (cfg["relative_attention_num_buckets"], h), 1.5
            )
        return t

    def feed_forward(prefix):
        return {
            f"{prefix}.wi_0.weight": normal((ff, d), d**-0.5),
            f"{prefix}.wi_1.weight": normal((ff, d), d**-0.5),
            f"{prefix}.wo.weight": normal((d, ff), ff**-0.5),
        }

    t = {"shared.weight": normal((cfg["vocab_size"], d), 1.0)}
    for i in range(cfg["num_layers"]):
        p = f"encoder.block.{i}.layer"
        t.update(attention(f"{p}.0.SelfAttention", i == 0))
        t[f"{p}.0.layer_norm.weight"] = norm_weight()
        t.update(feed_forward(f"{p}.1.DenseReluDense"))
        t[f"{p}.1.layer_norm.weight"] = norm_weight()
    t["encoder.final_layer_norm.weight"] = norm_weight()
    for i in range(cfg["num_decoder_layers"]):
        p = f"decoder.block.{i}.layer"
        t.update(attention(f"{p}.0.SelfAttention", i == 0))
        t[f"{p}.0.layer_norm.weight"] = norm_weight()
        t.update(attention(f"{p}.1.EncDecAttention", False))
        t[f"{p}.1.layer_norm.weight"] = norm_weight()
        t.update(feed_forward(f"{p}.2.DenseReluDense"))
        t[f"{p}.2.layer_norm.weight"] = norm_weight()
    t["decoder.final_layer_norm.weight"] = norm_weight()
    t["lm_head.weight"] = normal((cfg["vocab_size"], d), 0.6)
    return t


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    tok = build_tokenizer()
    # Like Flan-T5 (32100 pieces, 32128 rows) the embedding is padded past
    # the tokenizer's vocabulary.
    vocab_size = (tok.get_vocab_size() + 16) // 16 * 16
    cfg = config(vocab_size)
    tok.save(str(OUT / "tokenizer.json"))
    (OUT / "config.json").write_text(json.dumps(cfg, indent=2) + "\n")
    save_file(weights(cfg), str(OUT / "model.safetensors"), metadata={"format": "pt"})
    print(f"tokenizer pieces: {tok.get_vocab_size()}, model vocab: {vocab_size}")


if __name__ == "__main__":
    main()
