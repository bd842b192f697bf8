#!/usr/bin/env python3
"""Pools a scenario's figures over seeds, with extra settings merged into the scenario.

    simulations/tune.py simulations/smoke.toml focus0 '[mesh]\\nfocus_margin_min = 0' 1 2 3 4 5
    simulations/tune.py simulations/smoke.toml nohome '[fleet]\\nannounce_homeward = false' 1 2 3

A section of the extra settings that the scenario already has (such as `[fleet]`) has its keys
added at the start of that section; other sections are appended.

Builds and runs `cargo run --release -p haiqiao-sim --example run`; prints, per router and
class, created items, the share of oracle-deliverable items delivered, the overhead ratio
(relayed - delivered) / delivered and the median over seeds of latency / oracle latency.
"""
import json
import os
import subprocess
import sys
import tempfile

base, name, extra = sys.argv[1], sys.argv[2], sys.argv[3]
seeds = [int(s) for s in sys.argv[4:]] or [1, 2, 3, 4, 5]
root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
subprocess.run(["cargo", "build", "-q", "--release", "-p", "haiqiao-sim", "--example", "run"],
               cwd=root, check=True)
target = os.environ.get("CARGO_TARGET_DIR", os.path.join(root, "target"))
exe = os.path.join(target, "release", "examples", "run")


def merged(text, extra):
    """`text` with the TOML `extra` merged in by section (see the module's doc)."""
    lines = text.split("\n")
    appended = []
    section, block = None, []
    for line in extra.split("\n") + ["[]"]:
        if line.startswith("[") and not line.startswith("[["):
            if section is not None and block:
                if section in lines:
                    i = lines.index(section) + 1
                    lines[i:i] = block
                else:
                    appended += [section] + block
            elif section is None and block:
                appended += block
            section, block = line.strip(), []
        elif line.strip():
            block.append(line)
    return "\n".join(lines + [""] + appended) + "\n"


with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as f:
    f.write(merged(open(base).read(), extra.replace("\\n", "\n")))
    path = f.name
agg = {}
for s in seeds:
    out = subprocess.run([exe, path, str(s)], capture_output=True, text=True, check=True)
    r = json.loads(out.stdout)
    for rt, classes in r["routers"].items():
        for c, m in classes.items():
            a = agg.setdefault((rt, c), dict(cr=0, dl=0, od=0, both=0.0, rel=0, dup=0, lvo=[]))
            a["cr"] += m["created"]
            a["dl"] += m["delivered"]
            a["od"] += m["oracle_deliverable"]
            a["both"] += (m["delivery_vs_oracle"] or 0) * m["oracle_deliverable"]
            a["rel"] += m["relayed"]
            a["dup"] += m.get("duplicates", 0)
            if m["latency_median_vs_oracle"] is not None:
                a["lvo"].append(m["latency_median_vs_oracle"])
os.unlink(path)
for (rt, c), a in sorted(agg.items()):
    dvo = round(a["both"] / a["od"], 4) if a["od"] else None
    ovh = round((a["rel"] - a["dl"]) / a["dl"], 2) if a["dl"] else None
    lvo = sorted(a["lvo"])[len(a["lvo"]) // 2] if a["lvo"] else None
    held = a["rel"] - a["dup"]
    rph = round(a["rel"] / held, 3) if held > 0 else None
    print(f"{name:12} {rt:14} {c:15} created={a['cr']:6} vs_oracle={dvo} overhead={ovh} "
          f"latency/oracle={lvo} holders={held} relays/holder={rph}")
