#!/usr/bin/env bash
# Seeds the fuzz corpora from the conformance corpus (tests/data/*.txt) and the
# committed seeds (tests/fuzz/seeds/<target>/). Writes tests/fuzz/corpus/<target>/,
# which is git-ignored. Run from anywhere; re-running is harmless.
#   pattern: every `P ` line, one file each.
#   match:   every `P ` line followed by `\n` and each of its `Y `/`N ` events.
#   envelope: every `Y `/`N ` event alone (each becomes an envelope's detail).
set -euo pipefail
fuzz="$(cd "$(dirname "$0")" && pwd)"
data="$fuzz/../data"
mkdir -p "$fuzz/corpus/pattern" "$fuzz/corpus/match" "$fuzz/corpus/envelope"

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
        ;;
    esac
  done <"$f"
done

for target in pattern match envelope; do
  if [[ -d "$fuzz/seeds/$target" ]]; then
    cp "$fuzz/seeds/$target"/* "$fuzz/corpus/$target/"
  fi
done
echo "pattern: $(ls "$fuzz/corpus/pattern" | wc -l) files, match: $(ls "$fuzz/corpus/match" | wc -l) files," \
  "envelope: $(ls "$fuzz/corpus/envelope" | wc -l) files"
