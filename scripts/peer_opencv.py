#!/usr/bin/python3
"""The benchmark's peer: the same model and frames through Python with OpenCV (Debian's
python3-opencv), the way a typical integration does it: cv2.imdecode, letterbox with cv2.resize
and cv2.copyMakeBorder, cv2.dnn.blobFromImage, cv2.dnn on the ONNX model, the same Ultralytics
output decoding (per-class NMS) and the same decision (any detection at or above the threshold
fails the part). `station bench` runs it and compares; it prints one JSON object.
"""
import argparse
import json
import time

import cv2
import numpy as np


def letterbox(img, w, h, pad=114):
    ih, iw = img.shape[:2]
    r = min(w / iw, h / ih)
    nw, nh = max(1, round(iw * r)), max(1, round(ih * r))
    resized = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_LINEAR)
    left, top = (w - nw) // 2, (h - nh) // 2
    out = cv2.copyMakeBorder(resized, top, h - nh - top, left, w - nw - left, cv2.BORDER_CONSTANT, value=(pad, pad, pad))
    return out, r, left, top


def decode(out, r, left, top, nc, score_min=0.1, iou=0.5):
    head = out[0]  # (4 + nc, A), channel-major as Ultralytics exports it
    scores = head[4:4 + nc]
    cls = scores.argmax(0)
    best = scores[cls, np.arange(scores.shape[1])]
    keep = best >= score_min
    if not keep.any():
        return []
    cx, cy, bw, bh = head[0, keep], head[1, keep], head[2, keep], head[3, keep]
    boxes = np.stack([cx - bw / 2, cy - bh / 2, bw, bh], 1)
    sc, cl = best[keep], cls[keep]
    kept = []
    for c in np.unique(cl):  # per-class NMS (OpenCV 4.6 has no NMSBoxesBatched)
        idx = np.nonzero(cl == c)[0]
        kept += [idx[j] for j in np.array(cv2.dnn.NMSBoxes(boxes[idx].tolist(), sc[idx].tolist(), score_min, iou)).reshape(-1)]
    dets = []
    for i in kept:
        x, y, w, h = boxes[i]
        dets.append((int(cl[i]), float(sc[i]), ((x - left) / r, (y - top) / r, (x + w - left) / r, (y + h - top) / r)))
    return dets


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, int(np.ceil(p / 100 * len(xs))) - 1))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--jpeg", required=True)
    ap.add_argument("--raw", required=True, help="Mono8 frame, --width x --height bytes")
    ap.add_argument("--width", type=int, default=1920)
    ap.add_argument("--height", type=int, default=1200)
    ap.add_argument("--size", type=int, default=256, help="model input (square)")
    ap.add_argument("--nc", type=int, default=5)
    ap.add_argument("--iters", type=int, default=200)
    ap.add_argument("--threshold", type=float, default=0.5)
    a = ap.parse_args()
    cv2.setNumThreads(2)
    net = cv2.dnn.readNetFromONNX(a.model)
    jpeg = np.frombuffer(open(a.jpeg, "rb").read(), np.uint8)
    raw = np.frombuffer(open(a.raw, "rb").read(), np.uint8).reshape(a.height, a.width)

    def pre_jpeg():
        img = cv2.imdecode(jpeg, cv2.IMREAD_COLOR)
        lb, r, l, t = letterbox(img, a.size, a.size)
        return cv2.dnn.blobFromImage(lb, 1 / 255.0, swapRB=True), r, l, t

    def pre_raw():
        img = cv2.cvtColor(raw, cv2.COLOR_GRAY2BGR)
        lb, r, l, t = letterbox(img, a.size, a.size)
        return cv2.dnn.blobFromImage(lb, 1 / 255.0, swapRB=True), r, l, t

    # The 640 × 640 preprocessing the station's targets are stated for (Ultralytics' default input).
    def pre_jpeg_640():
        img = cv2.imdecode(jpeg, cv2.IMREAD_COLOR)
        lb, _, _, _ = letterbox(img, 640, 640)
        return cv2.dnn.blobFromImage(lb, 1 / 255.0, swapRB=True)

    def pre_raw_640():
        img = cv2.cvtColor(raw, cv2.COLOR_GRAY2BGR)
        lb, _, _, _ = letterbox(img, 640, 640)
        return cv2.dnn.blobFromImage(lb, 1 / 255.0, swapRB=True)

    for _ in range(10):
        blob, *_ = pre_jpeg()
        net.setInput(blob)
        net.forward()
    t = {"preprocess640Jpeg": [], "preprocess640Raw": [], "preprocessJpeg": [], "inference": [], "decode": []}
    for _ in range(a.iters):
        s = time.perf_counter(); pre_jpeg_640(); t["preprocess640Jpeg"].append(time.perf_counter() - s)
        s = time.perf_counter(); pre_raw_640(); t["preprocess640Raw"].append(time.perf_counter() - s)
    # End to end on the JPEG: decode, preprocess, inference, output decoding, decision.
    fails = 0
    start = time.perf_counter()
    for _ in range(a.iters):
        s0 = time.perf_counter()
        blob, r, l, tp = pre_jpeg()
        s1 = time.perf_counter()
        net.setInput(blob)
        out = net.forward()
        s2 = time.perf_counter()
        dets = decode(out, r, l, tp, a.nc)
        fails += any(d[1] >= a.threshold for d in dets)
        s3 = time.perf_counter()
        t["preprocessJpeg"].append(s1 - s0); t["inference"].append(s2 - s1); t["decode"].append(s3 - s2)
    elapsed = time.perf_counter() - start
    ms = lambda xs: {"p50": round(pct(xs, 50) * 1000, 3), "p99": round(pct(xs, 99) * 1000, 3)}
    print(json.dumps({
        "peer": f"python {'.'.join(map(str, __import__('sys').version_info[:3]))} opencv {cv2.__version__}",
        "iters": a.iters, "fps": round(a.iters / elapsed, 1), "fails": fails,
        **{k: ms(v) for k, v in t.items()},
    }))


if __name__ == "__main__":
    main()
