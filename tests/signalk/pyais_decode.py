"""Decodes NMEA lines (stdin) with pyais, an independent AIS decoder: one JSON object per
AIS message on stdout (type, mmsi, position, speed, course, heading, status, name, ship type).
Used by tests/integration/marine.rs."""
import json
import sys

from pyais.stream import IterMessages

lines = [l.strip().encode() for l in sys.stdin if l.startswith("!AIVD")]
for msg in IterMessages(lines):
    d = msg.decode().asdict()
    out = {"type": d.get("msg_type"), "mmsi": int(d.get("mmsi"))}
    for k in ("lat", "lon", "speed", "course", "heading", "status", "second", "shipname", "ship_type", "callsign"):
        if k in d and d[k] is not None:
            v = d[k]
            out[k] = int(v) if k in ("status", "ship_type") else v
    print(json.dumps(out))
