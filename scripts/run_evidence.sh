#!/usr/bin/env bash
# Start (or resume) every evidence run in the background: scripts/evidence.py run, two runs side by side with one
# thread each, a log at $EVIDENCE_RUNS/driver.log (default results/runs/evidence/). Rerun the same command after a
# stop: each run continues from its last checkpoint; completed runs are skipped. Arguments go to evidence.py
# (e.g. --study repeatnet_table3_c4). `python scripts/evidence.py status` shows where each run stands.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
out=${EVIDENCE_RUNS:-results/runs/evidence}
mkdir -p "$out"
if [ -f "$out/driver.pid" ] && kill -0 "$(cat "$out/driver.pid")" 2>/dev/null; then
    echo "evidence runs already going (pid $(cat "$out/driver.pid")); log: $out/driver.log" >&2
    exit 0
fi
nohup "$PY" scripts/evidence.py run "$@" >> "$out/driver.log" 2>&1 &
echo $! > "$out/driver.pid"
echo "evidence runs started (pid $!); log: $out/driver.log; status: $PY scripts/evidence.py status"
