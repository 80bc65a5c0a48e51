# shellcheck shell=bash
# Sourced, not run: `. infra/flan-t5-weights.sh; flan_t5_weights CHECKPOINT`.
# Used by infra/run-local.sh when FLAN_T5_DIR is unset.

# flan_t5_weights CHECKPOINT: prints the folder holding CHECKPOINT's weights
# (a cache folder under ${XDG_CACHE_HOME:-~/.cache}/chatbot-api/), downloading
# them from the hub (HF_ENDPOINT, default https://huggingface.co) the first
# time; prints nothing when there are none. A failed download is said in one
# line (its details go to download.log in the cache folder) and remembered
# for FLAN_T5_RETRY_SECS (default an hour), so offline starts do not wait
# for the hub again each time. The hub is probed for a few seconds first.
flan_t5_weights() {
  local checkpoint=$1
  local cache="${XDG_CACHE_HOME:-$HOME/.cache}/chatbot-api/$checkpoint"
  local failed="$cache.download-failed" log="$cache.download.log"
  local hub="${HF_ENDPOINT:-https://huggingface.co}"
  local retry="${FLAN_T5_RETRY_SECS:-3600}"
  if [[ -f "$cache/model.safetensors" ]]; then
    echo "$cache"
    return 0
  fi
  mkdir -p "$(dirname "$cache")"
  if [[ -f "$failed" ]]; then
    local age=$(($(date +%s) - $(stat -c %Y "$failed")))
    if ((age < retry)); then
      echo "Flan-T5: no weights for $checkpoint (downloading failed $((age / 60)) min ago: $(head -c 200 "$failed")); set FLAN_T5_DIR to a folder with its files, or delete $failed to retry now." >&2
      return 0
    fi
  fi
  local why=
  if ! curl -fsS --max-time "${FLAN_T5_PROBE_SECS:-5}" -o /dev/null "$hub/api/models/$checkpoint" 2>"$log"; then
    why="the hub ($hub) did not answer: $(tr '\n' ' ' <"$log" | head -c 160 | sed 's/ *$//')"
  else
    echo "Downloading $checkpoint into $cache (once)…" >&2
    if ! "$(dirname "${BASH_SOURCE[0]}")/fetch-weights.sh" "$checkpoint" "$cache" >"$log" 2>&1; then
      why="the download failed (details in $log)"
    fi
  fi
  if [[ -n "$why" || ! -f "$cache/model.safetensors" ]]; then
    why="${why:-no model.safetensors was downloaded}"
    echo "$why" >"$failed"
    echo "Flan-T5: could not download $checkpoint ($why); it answers 503 until FLAN_T5_DIR points at a folder with config.json, tokenizer.json and model.safetensors." >&2
    return 0
  fi
  rm -f "$failed"
  echo "$cache"
}
