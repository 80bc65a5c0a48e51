#!/usr/bin/env python3
"""Invokes the flan-t5-inference binary through a local Lambda Runtime API
(infra/bench/coldstart.py's emulator) and checks its answers.

    python3 tests/arm64/invoke.py --binary PATH --model-dir DIR --expected JSON \\
        [--launcher "qemu-aarch64-static -L /usr/aarch64-linux-gnu"] \\
        [--message TEXT] [--max-new-tokens N]

--expected is what the engine itself replies to the same one-message chat
(`bench reply`): the function must answer exactly that text with those token
counts. A second invocation that is not an inference request must get an
`error` answer and leave the process serving: a third (the chat again) must
still answer. The process runs with AWS_LAMBDA_MAX_CONCURRENCY=2, as on Lambda
Managed Instances: then two chats and a bad request queued at once must get the
same answers (two invocations in flight, the chats' steps batched by the
engine). Exits non-zero, saying why, on any difference.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "infra" / "bench"))
from coldstart import Failed, Process, base_env  # noqa: E402

MODEL = "google/flan-t5-small"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", type=Path, required=True)
    parser.add_argument("--model-dir", type=Path, required=True)
    parser.add_argument("--expected", required=True, help="JSON {text, prompt_tokens, completion_tokens}")
    parser.add_argument("--launcher", default="", help="command to run the binary under (qemu)")
    parser.add_argument("--message", default="Please explain how rain forms in the sky.")
    parser.add_argument("--max-new-tokens", type=int, default=24)
    # Emulated, the first answer includes loading the weights under qemu.
    parser.add_argument("--timeout", type=float, default=120)
    args = parser.parse_args()
    expected = json.loads(args.expected)
    if not expected.get("text") or not expected.get("completion_tokens"):
        # An empty reply would match a function that never ran the model.
        print(f"FAILED: the expected reply is empty ({expected!r}); choose another --message", file=sys.stderr)
        return 1

    scratch = Path(tempfile.mkdtemp(prefix="invoke-arm64-"))
    env = base_env(scratch)
    env.update(FLAN_T5_DIR=str(args.model_dir.resolve()), FLAN_T5_MODEL=MODEL, AWS_LAMBDA_MAX_CONCURRENCY="2")
    chat = json.dumps({
        "task": "chat",
        "model": "flan-t5-small",
        "turns": [{"role": "user", "content": args.message}],
        "max_new_tokens": args.max_new_tokens,
    }).encode()
    process = Process(args.binary, "flan-t5-inference", env, scratch, first_event=chat,
                      launcher=tuple(shlex.split(args.launcher)))
    failures = []
    try:
        _, first = process.first
        answers = [json.loads(process.wait(first, args.timeout).body)]
        not_a_request = json.loads(process.invoke(b'{"task": "poem"}', args.timeout).body)
        answers.append(json.loads(process.invoke(chat, args.timeout).body))
        # All at once: the function polls for two invocations at a time.
        queued = [process.emulator.queue(event)[1] for event in (chat, b'{"task": "poem"}', chat)]
        at_once = [json.loads(process.wait(result, args.timeout).body) for result in queued]
        answers += [at_once[0], at_once[2]]
        not_a_request_at_once = at_once[1]
    except Failed as err:
        print(f"FAILED: {err}", file=sys.stderr)
        return 1
    finally:
        process.stop()

    for i, answer in enumerate(answers):
        if answer != {"generated": expected}:
            failures.append(f"chat invocation {i + 1}: {answer!r}, expected {{'generated': {expected!r}}}")
    for bad in (not_a_request, not_a_request_at_once):
        error = bad.get("error") if isinstance(bad, dict) else None
        if not error or error.get("code") != "provider_failed":
            failures.append(f"a request that is not an inference request: {bad!r}, expected a provider_failed error")
    if failures:
        print("FAILED:\n  " + "\n  ".join(failures), file=sys.stderr)
        return 1
    print(f"flan-t5-inference answered through the Runtime API: {json.dumps(answers[0])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
