#!/usr/bin/env python3
"""PyTorch (transformers), CTranslate2 and candle on the same random-weight Flan-T5 checkpoints.

    python3 models/flan-t5/bench/compare.py [--sizes small base] [--rounds 3]
        [--ct2 float32 int8] [--torch-threads default 2 1]

For each size it writes one random checkpoint at the real shape (`bench
write`, safetensors) and runs every implementation on it, each measurement
in a fresh process, the implementations interleaved round by round so that
load from other work on the machine hits them alike:

* pytorch/default, pytorch/2, pytorch/1: transformers T5ForConditionalGeneration
  with PyTorch's default thread count (OMP/MKL_NUM_THREADS unset), then
  torch.set_num_threads(2) and (1) (--torch-threads picks which)
* candle-f32 (the default, exact path), candle-q8_0, candle-q4k: examples/bench.rs,
  quantized from the GGUF files `bench quantize` writes (the build-time step)
* ct2-float32, ct2-int8: CTranslate2 (bench/ct2_worker.py) on the checkpoint
  converted once by `ct2-transformers-converter` (--quantization float32 and
  int8, the build-time step), 2 intra-op threads; greedy, beam 1, exactly the
  same number of new tokens (end of sequence and pad forbidden, as above).
  Its encoder time is derived (a 1-token translation less one step).

Measured: load = from spawning the process to the model being ready (Python
imports included), encoder ms for the prompt, greedy decode tok/s (cached
keys/values, end-of-sequence suppressed, 64 steps), peak RSS of the whole
process (wait4's ru_maxrss). Medians over rounds x repeats. candle runs with
RAYON_NUM_THREADS=2 and CANDLE_NUM_THREADS=1 (see CANDLE_MODES). Speed-ups
are against the best PyTorch set-up for each column (the fastest load, the
fastest encoder, the fastest decoding, the smallest memory), not one
PyTorch run for all of them.

Needs cargo and, for the PyTorch side, an interpreter with torch +
transformers (and ctranslate2 for --ct2): --python, else $FLAN_T5_BENCH_PYTHON,
else /work/venv-bench, which is created and filled from PyPI if missing. This script itself only
uses the standard library. Not run by CI.
"""

import argparse
import array
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CRATE = Path(__file__).resolve().parent.parent
ROOT = CRATE.parent.parent
THREADS = 2
# mode[/N]: N is CANDLE_NUM_THREADS, the size of candle's spinning barrier
# pool that runs the quantized matmuls (and a few f32 ops); 1 = the calling
# thread only. rayon (gemm, everything else) always gets THREADS.
CANDLE_MODES = ["f32", "q8_0", "q4k", "q8_0/2"]


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, text=True, capture_output=True, **kw).stdout


def torch_python(explicit):
    python = explicit or os.environ.get("FLAN_T5_BENCH_PYTHON")
    if not python:
        venv = Path("/work/venv-bench")
        python = str(venv / "bin" / "python")
        if not Path(python).exists():
            print(f"creating {venv} with torch and transformers from PyPI", file=sys.stderr)
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
            subprocess.run([python, "-m", "pip", "install", "-q", "torch", "transformers", "safetensors", "numpy",
                            "ctranslate2"], check=True)
    sh([python, "-c", "import torch, transformers"])
    return python


def machine():
    cpu = next((l.split(":", 1)[1].strip() for l in sh(["lscpu"]).splitlines() if l.startswith("Model name")), "?")
    mem_kb = next(int(l.split()[1]) for l in Path("/proc/meminfo").read_text().splitlines() if l.startswith("MemTotal"))
    return {"cpu": cpu, "cores": os.cpu_count(), "ram_gib": round(mem_kb / 2**20, 1), "kernel": platform.release()}


def measure(cmd, env):
    """Runs one measurement process; returns its JSON plus load (s) and peak RSS (MiB)."""
    with tempfile.TemporaryFile() as err:
        start = time.time()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, env=env)
        out = proc.stdout.read()
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            err.seek(0)
            raise RuntimeError(f"{cmd} failed:\n{err.read().decode()[-3000:]}")
    result = json.loads(out.decode().strip().splitlines()[-1])
    result["load_s"] = result["ready_unix"] - start
    result["peak_rss_mib"] = usage.ru_maxrss / 1024  # KiB on Linux
    return result


def read_f32(path):
    values = array.array("f")
    values.frombytes(Path(path).read_bytes())
    return values


def unique_vocabulary(path):
    """The random checkpoints carry the tiny test tokenizer; the converter pads
    its vocabulary to the model's size with <extra_id_N> names the tokenizer
    already has, and CTranslate2 maps token strings to ids. Renaming the
    repeats makes every id its own string, so the prompt's ids reach the model
    unchanged."""
    vocab = json.loads(path.read_text())
    seen = set()
    for i, token in enumerate(vocab):
        if token in seen:
            vocab[i] = f"<id_{i}>"
        seen.add(vocab[i])
    path.write_text(json.dumps(vocab))


def leading_equal(a, b):
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", nargs="+", default=["small", "base"])
    ap.add_argument("--rounds", type=int, default=3, help="fresh processes per implementation")
    ap.add_argument("--repeats", type=int, default=3, help="encode+decode runs inside each process")
    ap.add_argument("--prompt", type=int, default=95)
    ap.add_argument("--steps", type=int, default=64)
    ap.add_argument("--modes", nargs="+", default=CANDLE_MODES, help="candle modes: f32 q8_0 q4k")
    ap.add_argument("--ct2", nargs="*", default=["float32", "int8"],
                    help="CTranslate2 compute types to measure (none: skip CTranslate2)")
    ap.add_argument("--torch-threads", nargs="*", default=["default", "2", "1"],
                    help="PyTorch thread counts to measure ('default' = PyTorch's own choice)")
    ap.add_argument("--models", default=str(Path(tempfile.gettempdir()) / "flan-t5-bench-models"))
    ap.add_argument("--python", help="interpreter with torch and transformers")
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--json", help="also write all raw results here")
    ap.add_argument("--baseline", help="another build of examples/bench (e.g. the code before a change): its "
                    "quantized --modes run too, as candle-MODE@baseline, alternated with the rest")
    args = ap.parse_args()

    python = torch_python(args.python)
    if not args.no_build:
        subprocess.run(["cargo", "build", "--profile", "release-lto", "-p", "flan-t5", "--example", "bench"],
                       cwd=ROOT, check=True)
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    bench = str(target / "release-lto" / "examples" / "bench")

    env = dict(os.environ, OMP_NUM_THREADS=str(THREADS), MKL_NUM_THREADS=str(THREADS),
               RAYON_NUM_THREADS=str(THREADS), CANDLE_NUM_THREADS=str(THREADS), TOKENIZERS_PARALLELISM="false")
    info = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="minutes"),
            "machine": machine(), "threads": THREADS, "prompt": args.prompt, "steps": args.steps, "sizes": {}}
    print(json.dumps(info["machine"]), file=sys.stderr)
    scratch = Path(tempfile.mkdtemp())
    for size in args.sizes:
        model_dir = Path(args.models) / size
        if not (model_dir / "model.safetensors").exists():
            sh([bench, "write", size, str(model_dir)])
        for q in {m.split("/")[0] for m in args.modes} - {"f32"}:
            gguf = model_dir / f"model.{q}.gguf"
            if not gguf.exists() or gguf.stat().st_mtime < (model_dir / "model.safetensors").stat().st_mtime:
                sh([bench, "quantize", str(model_dir), q])
        for ct in args.ct2:
            ct2_dir = model_dir / f"ct2-{ct}"
            if not (ct2_dir / "model.bin").exists():
                converter = str(Path(python).parent / "ct2-transformers-converter")
                sh([converter, "--model", str(model_dir), "--output_dir", str(ct2_dir), "--quantization", ct,
                    "--force"])
                unique_vocabulary(ct2_dir / "shared_vocabulary.json")
        torches = [f"pytorch/{t}" for t in args.torch_threads]
        impls = torches + [f"ct2-{ct}" for ct in args.ct2] + [f"candle-{m}" for m in args.modes]
        if args.baseline:
            impls += [f"candle-{m}@baseline" for m in args.modes if m != "f32"]
        runs = {name: [] for name in impls}
        load_before = os.getloadavg()
        for r in range(args.rounds):
            for name in impls:
                logits = scratch / f"{size}-{name.replace('/', '-')}-{r}.f32"
                common = [str(args.prompt), str(args.steps), str(args.repeats)]
                run_env = env
                if name.startswith("pytorch/"):
                    threads = name.removeprefix("pytorch/")
                    run_env = dict(env, TORCH_BENCH_THREADS=threads)
                    if threads == "default":
                        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
                            run_env.pop(var, None)
                    cmd = [python, str(CRATE / "bench" / "torch_worker.py"), str(model_dir), *common, str(logits)]
                elif name.startswith("ct2-"):
                    ct = name.removeprefix("ct2-")
                    run_env = dict(env, CT2_COMPUTE_TYPE=ct, CT2_THREADS=str(THREADS))
                    cmd = [python, str(CRATE / "bench" / "ct2_worker.py"), str(model_dir / f"ct2-{ct}"), *common,
                           str(logits)]
                else:
                    mode, _, build = name.removeprefix("candle-").partition("@")
                    mode, _, pool = mode.partition("/")
                    run_env = dict(env, CANDLE_NUM_THREADS=pool or "1")
                    cmd = [args.baseline if build else bench, "run", str(model_dir), "--quantize", mode,
                           "--prompt", common[0], "--steps", common[1], "--repeats", common[2], "--logits", str(logits)]
                res = measure(cmd, run_env)
                res["loadavg"] = os.getloadavg()[0]
                res["first_logits"] = read_f32(logits)
                runs[name].append(res)
                print(f"{size} round {r + 1} {name}: load {res['load_s']:.2f} s, "
                      f"encode {statistics.median(res['encode_ms']):.1f} ms, "
                      f"decode {statistics.median(res['decode_tok_s']):.1f} tok/s, "
                      f"peak {res['peak_rss_mib']:.0f} MiB, load average {res['loadavg']:.2f}", file=sys.stderr)
        load_after = os.getloadavg()
        reference = torches[0] if torches else "candle-f32"
        ref_tokens = runs[reference][0]["tokens"]
        ref_logits = runs[reference][0]["first_logits"]
        summary = {}
        for name in impls:
            rs = runs[name]
            first = rs[0]
            summary[name] = {
                "load_s": statistics.median(r["load_s"] for r in rs),
                "encode_ms": statistics.median(x for r in rs for x in r["encode_ms"]),
                "decode_tok_s": statistics.median(x for r in rs for x in r["decode_tok_s"]),
                "peak_rss_mib": statistics.median(r["peak_rss_mib"] for r in rs),
                "tokens_equal_to_pytorch": leading_equal(first["tokens"], ref_tokens),
                "first_step_max_logit_diff": max(abs(a - b) for a, b in zip(first["first_logits"], ref_logits)),
                "first_step_logit_range": [min(first["first_logits"]), max(first["first_logits"])],
            }
            if name == "ct2-int8" and "ct2-float32" in runs:
                f32 = runs["ct2-float32"][0]
                summary[name]["tokens_equal_to_ct2_float32"] = leading_equal(first["tokens"], f32["tokens"])
            if name.startswith("candle-q") and "candle-f32" in runs and "candle-f32" != name:
                f32 = runs["candle-f32"][0]
                summary[name]["tokens_equal_to_candle_f32"] = leading_equal(first["tokens"], f32["tokens"])
                summary[name]["first_step_max_logit_diff_vs_f32"] = max(
                    abs(a - b) for a, b in zip(first["first_logits"], f32["first_logits"]))
        info["sizes"][size] = {"loadavg_before": load_before, "loadavg_after": load_after, "summary": summary,
                               "raw": {n: [{k: v for k, v in r.items() if k != "first_logits"} for r in rs]
                                       for n, rs in runs.items()}}
        print_table(size, summary, torches or [reference], load_before, load_after, args)
    if args.json:
        Path(args.json).write_text(json.dumps(info, indent=1))


def print_table(size, summary, torches, before, after, args):
    best = {
        "load_s": min(summary[t]["load_s"] for t in torches),
        "encode_ms": min(summary[t]["encode_ms"] for t in torches),
        "decode_tok_s": max(summary[t]["decode_tok_s"] for t in torches),
        "peak_rss_mib": min(summary[t]["peak_rss_mib"] for t in torches),
    }
    torch = best
    reference = "PyTorch" if torches[0].startswith("pytorch") else torches[0]
    print(f"\n### flan-t5-{size} shape ({args.prompt}-token prompt, {args.steps} new tokens, "
          f"load average {before[0]:.2f} before / {after[0]:.2f} after)\n")
    print("| implementation | load s | encode ms | decode tok/s | peak RSS MiB "
          f"| load speed-up | encode speed-up | decode speed-up | memory ratio | greedy tokens = {reference} |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, s in summary.items():
        print(f"| {name} | {s['load_s']:.2f} | {s['encode_ms']:.1f} | {s['decode_tok_s']:.1f} | "
              f"{s['peak_rss_mib']:.0f} | {torch['load_s'] / s['load_s']:.2f}x | "
              f"{torch['encode_ms'] / s['encode_ms']:.2f}x | {s['decode_tok_s'] / torch['decode_tok_s']:.2f}x | "
              f"{s['peak_rss_mib'] / torch['peak_rss_mib']:.2f} | {s['tokens_equal_to_pytorch']}/{args.steps} |")
    print("\nspeed-up = best PyTorch set-up's time / this one's (above 1: faster than PyTorch's best); "
          "memory ratio = this / PyTorch's smallest; "
          "/2 = candle's barrier pool at 2 threads (CANDLE_NUM_THREADS=2), otherwise 1.")
    for name, s in summary.items():
        if "tokens_equal_to_ct2_float32" in s:
            print(f"- {name} vs ct2-float32: {s['tokens_equal_to_ct2_float32']}/{args.steps} leading greedy tokens equal")
        if "tokens_equal_to_candle_f32" in s:
            print(f"- {name} vs candle-f32: {s['tokens_equal_to_candle_f32']}/{args.steps} leading greedy tokens "
                  f"equal; first-step max |logit diff| {s['first_step_max_logit_diff_vs_f32']:.3g} "
                  f"(logits span {s['first_step_logit_range'][0]:.2f}..{s['first_step_logit_range'][1]:.2f})")
    print(f"- candle-f32 vs PyTorch: first-step max |logit diff| "
          f"{summary.get('candle-f32', {}).get('first_step_max_logit_diff', float('nan')):.3g}")


if __name__ == "__main__":
    main()
