#!/usr/bin/env bash
# `make demo`, shrunk (60 frames, 4 epochs: one validation, as the recipe validates every 4): it
# runs end to end, prints what it learned beside the constant guess, and every output its closing
# message lists is there (issue 24, finding 8: it once listed *_depth16.png files it did not write). Whether it learns enough is
# bench/learning.sh's question (docs/PERFORMANCE.md, "Learning"), not a test's.
set -euo pipefail
GLPDEPTH=$1
SOURCE=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
DEMO_OUT="$work/demo" DEMO_FRAMES=60 DEMO_EPOCHS=4 DEMO_THREADS=2 \
  bash "$SOURCE/scripts/demo.sh" "$GLPDEPTH" > "$work/out.txt" 2>&1 || { cat "$work/out.txt"; exit 1; }
fail() { echo "FAIL: $*"; cat "$work/out.txt"; exit 1; }
sentence=$(sed -n '/^What it learned: /,/^$/p' "$work/out.txt" | tr '\n' ' ')
number='[0-9]+\.[0-9]+'
echo "$sentence" | grep -Eq "has AbsRel $number and d1 $number, where the constant guess \($number m everywhere, the median training depth\) has AbsRel $number and d1 $number\." ||
  fail "no 'What it learned' sentence with both results: $sentence"
# Each output line: "  <what>   <folder>   (<entry>, <entry> words, ...)": the folder exists, and
# each entry's first word of the form *suffix, name/ or a file name is there.
listed=0
while IFS='|' read -r folder entries; do
  [ -d "$folder" ] || fail "listed folder $folder does not exist"
  IFS=',' read -ra items <<< "$entries"
  for item in "${items[@]}"; do
    item="${item#"${item%%[! ]*}"}"
    first="${item%% *}"
    case "$first" in
      \**) compgen -G "$folder/$first" > /dev/null || fail "$folder has no $first" ;;
      */) [ -d "$folder/$first" ] || fail "$folder has no folder $first" ;;
      *.json|*.csv|*.ckpt|*.mp4) [ -f "$folder/$first" ] || fail "$folder has no $first" ;;
    esac
  done
  listed=$((listed + 1))
done < <(sed -n '/Outputs:/,/^$/p' "$work/out.txt" | sed -n 's/^  [a-z ]*[a-z]  *\([^ ]*\)  *(\(.*\))$/\1|\2/p')
expected=4
"$GLPDEPTH" info --threads 1 | grep -q '^video: yes' && expected=5  # and the depth video
[ "$listed" -eq "$expected" ] || fail "expected $expected output lines, read $listed"
# The three panels exist (the README shows such a picture).
[ "$(compgen -G "$work/demo/predict/*_panel.png" | wc -l)" -eq 3 ] || fail "not three panels"
echo "demo: ok ($listed output lines checked)"
