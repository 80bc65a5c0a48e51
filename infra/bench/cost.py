#!/usr/bin/env python3
"""What API requests and Flan-T5 replies cost on AWS at list prices, from the
measured figures below (docs/deployment.md, "Cost per request", explains each one). Edit MIX,
REQUESTS, REPLIES or the assumptions and run it again for your own traffic:

    python3 infra/bench/cost.py            # the table of docs/deployment.md, as Markdown

Formula, per route r with n_r requests (its share of the mix times REQUESTS):
  API Gateway   n_r x HTTP_API_PER_REQUEST
  Lambda        n_r x (LAMBDA_PER_REQUEST + GB x ceil_ms(handler_ms + ddb_requests x DDB_MS) / 1000 x LAMBDA_PER_GB_S)
  DynamoDB      n_r x (RRU_r x RRU_PRICE + WRU_r x WRU_PRICE)
  Logs          n_r x LOG_BYTES_PER_REQUEST x LOGS_PER_GB / 2^30
and per Flan-T5 reply: the inference function's GB x seconds (encode + tokens /
tokens-per-second, stretched from the 2 measured vCPUs to those its memory buys),
for each FLAN_T5_QUANTIZE setting measured
plus the calling function's GB x the same wait.
"""

import math

# AWS list prices, us-east-1, as of 2026-11-30 (first pricing tier of each).
HTTP_API_PER_REQUEST = 1.00 / 1e6        # API Gateway HTTP API, per request (up to 512 KB)
LAMBDA_PER_REQUEST = 0.20 / 1e6          # Lambda requests
LAMBDA_PER_GB_S = 0.0000133334           # Lambda arm64, per GB-second
RRU_PRICE = 0.125 / 1e6                  # DynamoDB on-demand, per read request unit
WRU_PRICE = 0.625 / 1e6                  # DynamoDB on-demand, per write request unit
SECRETS_PER_CALL = 0.05 / 10_000         # Secrets Manager API calls
LOGS_PER_GB = 0.50                       # CloudWatch Logs ingestion (standard class)

# Assumptions (not measured here): one DynamoDB round trip from Lambda in its
# region, SDK included; the bytes logged per invocation (our one JSON request
# line, about 230 bytes, plus Lambda's START/END/REPORT lines, about 350).
DDB_MS = 6.0
LOG_BYTES_PER_REQUEST = 600
# Request units: items under 4 KB (reads) and 1 KB (writes); strongly consistent
# reads (1 RRU per GetItem), a page of a chat's messages or chats read by a
# Query in 2 RRU; 1 WRU per standalone write or batch item; 2 WRU per item of a
# transaction (DynamoDB charges transactions double).
RRU_GET, RRU_QUERY, WRU_WRITE, WRU_TRANSACT_ITEM = 1, 2, 1, 2

# Per route: the function's memory (MB, template.yaml), its warm handler time
# (ms, BENCHMARKS.md coldstart.py table, x86-64, release, SQLite: the code's own
# time), and its DynamoDB requests (tests/tests/dynamodb_requests.rs, logged):
# (GetItem, Query, standalone writes, transaction items, batch items).
ROUTES = {
    "GET /api/chats/ (10 chats)":       (256, 0.31, (2, 11, 0, 0, 0)),
    "GET /api/chats/{id}/messages/":    (256, 0.30, (3, 1, 0, 0, 0)),
    "POST /api/chats/ (first message)": (256, 0.99, (3, 4, 2, 13, 0)),
    "POST /api/chats/ (later message)": (256, 0.99, (3, 4, 1, 8, 0)),
    "GET /api/me/":                     (256, 0.28, (2, 0, 0, 0, 0)),
    "GET /api/tokens/":                 (256, 0.28, (2, 1, 0, 0, 0)),
    "GET /api/models/":                 (256, 0.32, (2, 0, 0, 0, 0)),
    "POST /api/login/":                 (256, 14.34, (2, 0, 1, 2, 0)),
    "PATCH …/messages/{id}/ (edit)":    (256, 0.88, (4, 0, 2, 0, 0)),
    "POST …/regenerate/":               (256, 0.80, (4, 5, 1, 7, 0)),
    "PATCH /api/chats/{id}/ (rename)":  (256, 0.39, (3, 1, 0, 2, 0)),
    "DELETE /api/chats/{id}/ (20 msgs)": (256, 0.31, (3, 1, 0, 0, 21)),
    "POST /api/register/":              (256, 14.44, (2, 0, 1, 5, 0)),
    "GET / (the web page)":             (256, 0.28, (0, 0, 0, 0, 0)),
}

# A chat client's day: per 100 requests.
MIX = {
    "GET /api/chats/ (10 chats)": 20,
    "GET /api/chats/{id}/messages/": 20,
    "POST /api/chats/ (first message)": 4,
    "POST /api/chats/ (later message)": 16,
    "GET /api/me/": 5,
    "GET /api/tokens/": 5,
    "GET /api/models/": 5,
    "POST /api/login/": 5,
    "PATCH …/messages/{id}/ (edit)": 3,
    "POST …/regenerate/": 5,
    "PATCH /api/chats/{id}/ (rename)": 2,
    "DELETE /api/chats/{id}/ (20 msgs)": 3,
    "POST /api/register/": 2,
    "GET / (the web page)": 5,
}
REQUESTS = 100_000

# Flan-T5-base replies, per FLAN_T5_QUANTIZE setting: seconds to encode a 95-token
# prompt and decoding tokens/s, medians of one run on the x86-64 VM, 2 threads
# (BENCHMARKS.md, "Against PyTorch: encoder and decoding": f32 and q8_0 side by side).
REPLIES = 10_000
REPLY_TOKENS = 64
FLAN_T5 = {
    "f32": (0.0521, 135.3),
    "q8_0": (0.0489, 251.7),
}
INFERENCE_MB = 3008            # InferenceMemorySize
MEASURED_VCPUS = 2             # the benchmark's threads, on 2 vCPUs
MB_PER_VCPU = 1769             # Lambda gives CPU in proportion to memory: 1 vCPU at 1,769 MB
CALLER_MB = 256                # send-chat waits for the reply, billed meanwhile
# Standing costs: two secrets at $0.40 each; CloudWatch alarms at $0.10 per metric
# (31 alarms on one metric each, the table's errors alarm sums 7 and its throttles
# alarm 2); the image in ECR (about 1.2 GB at $0.10 per GB).
FIXED_MONTHLY = {
    "Secrets Manager: 2 secrets": 2 * 0.40,
    "CloudWatch alarms: 40 alarm metrics": 40 * 0.10,
    "ECR: the inference image, ~1.2 GB": 1.2 * 0.10,
}
# Each cold inference instance reads the secret once (model-calling functions only).
SECRET_READS = 100


def route_cost(name, count):
    memory, handler_ms, (gets, queries, writes, transact_items, batch_items) = ROUTES[name]
    requests = gets + queries + writes + (1 if transact_items else 0) + (1 if batch_items else 0)
    billed_ms = math.ceil(handler_ms + requests * DDB_MS)
    rru = gets * RRU_GET + queries * RRU_QUERY
    wru = writes * WRU_WRITE + transact_items * WRU_TRANSACT_ITEM + batch_items * WRU_WRITE
    return {
        "api": count * HTTP_API_PER_REQUEST,
        "lambda": count * (LAMBDA_PER_REQUEST + memory / 1024 * billed_ms / 1000 * LAMBDA_PER_GB_S),
        "dynamodb": count * (rru * RRU_PRICE + wru * WRU_PRICE),
        "logs": count * LOG_BYTES_PER_REQUEST * LOGS_PER_GB / 2**30,
        "billed_ms": billed_ms,
        "rru": rru,
        "wru": wru,
    }


def main():
    total = sum(MIX.values())
    print(f"{REQUESTS:,} API requests:\n")
    print("| route | share | billed ms | RRU | WRU | API GW $ | Lambda $ | DynamoDB $ | logs $ |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    sums = {"api": 0.0, "lambda": 0.0, "dynamodb": 0.0, "logs": 0.0}
    for name, share in MIX.items():
        cost = route_cost(name, REQUESTS * share / total)
        for key in sums:
            sums[key] += cost[key]
        print(f"| {name} | {share}% | {cost['billed_ms']} | {cost['rru']} | {cost['wru']} | "
              f"{cost['api']:.4f} | {cost['lambda']:.4f} | {cost['dynamodb']:.4f} | {cost['logs']:.4f} |")
    api_total = sum(sums.values())
    print(f"| **total** | 100% | | | | **{sums['api']:.3f}** | **{sums['lambda']:.3f}** | "
          f"**{sums['dynamodb']:.3f}** | **{sums['logs']:.3f}** |")
    print(f"\n**{REQUESTS:,} API requests: ${api_total:.2f}** "
          f"(${api_total / REQUESTS * 1e6:.2f} per million)\n")

    # The measured time on 2 vCPUs, stretched to the vCPUs the memory buys.
    vcpus = min(INFERENCE_MB / MB_PER_VCPU, MEASURED_VCPUS)
    secrets = SECRET_READS * SECRETS_PER_CALL
    print(f"{REPLIES:,} Flan-T5-base replies of {REPLY_TOKENS} tokens, by `FLAN_T5_QUANTIZE`:\n")
    print("| setting | s per reply | inference function ({} MB) $ | calling function ({} MB) waiting $ "
          "| Secrets Manager $ | **total** $ |".format(INFERENCE_MB, CALLER_MB))
    print("|---|---:|---:|---:|---:|---:|")
    for setting, (encode_s, tokens_per_s) in FLAN_T5.items():
        seconds = (encode_s + REPLY_TOKENS / tokens_per_s) * MEASURED_VCPUS / vcpus
        inference = REPLIES * (LAMBDA_PER_REQUEST + INFERENCE_MB / 1024 * seconds * LAMBDA_PER_GB_S)
        caller = REPLIES * CALLER_MB / 1024 * seconds * LAMBDA_PER_GB_S
        print(f"| {setting} | {seconds:.2f} | {inference:.3f} | {caller:.3f} | {secrets:.4f} "
              f"| **{inference + caller + secrets:.2f}** |")

    print("\nFixed, per month whatever the traffic:\n")
    print("| item | $ per month |")
    print("|---|---:|")
    for item, dollars in FIXED_MONTHLY.items():
        print(f"| {item} | {dollars:.2f} |")
    print(f"| **total** | **{sum(FIXED_MONTHLY.values()):.2f}** |")


if __name__ == "__main__":
    main()
