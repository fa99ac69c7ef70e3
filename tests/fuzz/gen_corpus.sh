#!/usr/bin/env bash
# Seeds the fuzz corpora from the conformance corpus (tests/data/*.txt) and the
# committed seeds (tests/fuzz/seeds/<target>/). Writes tests/fuzz/corpus/<target>/,
# which is git-ignored. Run from anywhere; re-running is harmless.
#   pattern: every `P ` line, one file each.
#   match:   every `P ` line followed by `\n` and each of its `Y `/`N ` events.
#   envelope: every `Y `/`N ` event alone (each becomes an envelope's detail).
#   transform: every `Y `/`N ` event as the event line, with a paths map and a
#              JSON-shaped template that reach into `detail`.
#   putevents: every `Y `/`N ` event as the `Detail` of a one-entry request.
set -euo pipefail
fuzz="$(cd "$(dirname "$0")" && pwd)"
data="$fuzz/../data"
targets=(pattern match envelope transform putevents)
for target in "${targets[@]}"; do mkdir -p "$fuzz/corpus/$target"; done

# A JSON string literal's contents (the events hold no control characters).
json_escape() {
  local s="${1//\\/\\\\}"
  printf '%s' "${s//\"/\\\"}"
}

put() { # dir, content (written byte for byte, no trailing newline)
  local name
  name="$(printf '%s' "$2" | sha1sum | cut -c1-40)"
  printf '%s' "$2" >"$1/$name"
}

for f in "$data"/*.txt; do
  pattern=""
  while IFS= read -r line || [[ -n "$line" ]]; do
    case "$line" in
      "P "*)
        pattern="${line:2}"
        put "$fuzz/corpus/pattern" "$pattern"
        ;;
      "Y "* | "N "*)
        [[ -n "$pattern" ]] && put "$fuzz/corpus/match" "$pattern"$'\n'"${line:2}"
        put "$fuzz/corpus/envelope" "${line:2}"
        put "$fuzz/corpus/transform" "${line:2}"$'\na=$.detail.a\nd=$.detail\n\n{"a": <a>, "s": "<a>", "d": <d>}'
        put "$fuzz/corpus/putevents" \
          '{"Entries":[{"Source":"s","DetailType":"t","Detail":"'"$(json_escape "${line:2}")"'"}]}'
        ;;
    esac
  done <"$f"
done

for target in "${targets[@]}"; do
  if [[ -d "$fuzz/seeds/$target" ]]; then
    cp "$fuzz/seeds/$target"/* "$fuzz/corpus/$target/"
  fi
done
for target in "${targets[@]}"; do
  echo "$target: $(ls "$fuzz/corpus/$target" | wc -l) files"
done
