#!/usr/bin/python3
"""Write `<model>.manifest.json` beside an exported detector: how the station feeds and reads it.

Usage: manifest.py MODEL.onnx [--name NAME] [--version V] [--card FILE.md] [--report FILE.json ...]
The labels, input size and task come from the model's own metadata_props (as Ultralytics writes
them), so the manifest cannot drift from the graph; the sha256 pins the exact file.
"""
import argparse
import ast
import hashlib
import json
import os

import onnx


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--name")
    ap.add_argument("--version", default="1")
    ap.add_argument("--card")
    ap.add_argument("--report", action="append", default=[], help="saved `station eval --report` file beside the model (repeatable)")
    a = ap.parse_args()
    m = onnx.load(a.model)
    meta = {p.key: p.value for p in m.metadata_props}
    names = ast.literal_eval(meta["names"])
    h, w = ast.literal_eval(meta.get("imgsz", "[640, 640]"))
    with open(a.model, "rb") as f:
        sha = hashlib.sha256(f.read()).hexdigest()
    manifest = {
        "name": a.name or os.path.splitext(os.path.basename(a.model))[0],
        "version": a.version,
        "family": "yolo-detect" if meta.get("task", "detect") == "detect" else meta["task"],
        "sha256": sha,
        "labels": [names[i] for i in sorted(names)],
        "input": {"name": m.graph.input[0].name, "width": w, "height": h, "resize": "letterbox", "padValue": 114,
                  "colorOrder": "RGB", "scale": 1 / 255},
    }
    if a.card:
        manifest["card"] = a.card
    if a.report:
        manifest["reports"] = a.report
    out = os.path.splitext(a.model)[0] + ".manifest.json"
    with open(out, "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")
    print(json.dumps({"manifest": out, "sha256": sha}))


if __name__ == "__main__":
    main()
