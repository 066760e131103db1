#!/usr/bin/python3
"""Train the synthetic line's defect detector from scratch and export it to ONNX.

The exported graph follows the Ultralytics YOLOv8 detection contract exactly, so the station
decodes it with its generic decoder and no special case:
  input  `images`  [1,3,S,S] RGB /255, letterboxed (centred, pad 114)
  output `output0` [1,4+nc,A] channel-major: cx,cy,w,h in letterbox pixels, then per-class
         sigmoid scores; no objectness, no NMS in the graph
  metadata_props: names "{0: 'scratch', ...}", task, imgsz, stride (as Ultralytics writes them)

The network is a small anchor-free detector on a stride-8 grid. Positives are assigned from the
defect masks (a grid cell is positive for a defect when the defect's pixels fall in it), which
suits thin, long defects such as scratches better than box-centre sampling.

Data: `station synth DIR ...` (labels.jsonl + images + masks). Seeded; CPU only; torch 1.13
from Debian (`/usr/bin/python3`).
"""
import argparse
import json
import math
import os
import random
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

STRIDE = 8


def letterbox_params(w, h, size):
    r = min(size / w, size / h)
    nw, nh = round(w * r), round(h * r)
    return r, (size - nw) // 2, (size - nh) // 2, nw, nh


def load_sample(root, rec, size, classes):
    img = Image.open(os.path.join(root, rec["file"])).convert("L")
    w, h = img.size
    r, px, py, nw, nh = letterbox_params(w, h, size)
    canvas = np.full((size, size), 114, np.uint8)
    canvas[py:py + nh, px:px + nw] = np.asarray(img.resize((nw, nh), Image.BILINEAR))
    # Per-class mask at grid resolution, from the full-resolution mask.
    g = size // STRIDE
    cellmask = np.zeros((len(classes), g, g), np.float32)
    boxes = []
    mask_full = None
    if rec["defects"]:
        parts = rec["file"].split(os.sep) if os.sep in rec["file"] else rec["file"].split("/")
        mpath = os.path.join(root, "masks", parts[1], parts[2])
        mask_full = np.asarray(Image.open(mpath).convert("L").resize((nw, nh), Image.NEAREST)) > 127
    for d in rec["defects"]:
        c = classes.index(d["class"])
        x1, y1, x2, y2 = d["box"]
        bx = [x1 * r + px, y1 * r + py, x2 * r + px, y2 * r + py]
        boxes.append((c, bx))
        m = np.zeros((size, size), bool)
        ix1, iy1 = max(0, int(bx[0]) - 1), max(0, int(bx[1]) - 1)
        ix2, iy2 = min(size, int(math.ceil(bx[2])) + 1), min(size, int(math.ceil(bx[3])) + 1)
        if mask_full is not None:
            sub = np.zeros((size, size), bool)
            sub[py:py + nh, px:px + nw] = mask_full
            m[iy1:iy2, ix1:ix2] = sub[iy1:iy2, ix1:ix2]
        if not m.any():
            m[iy1:iy2, ix1:ix2] = True
        cells = m.reshape(g, STRIDE, g, STRIDE).any(axis=(1, 3))
        cellmask[c] = np.maximum(cellmask[c], cells)
    return canvas, boxes, cellmask


class Dataset(torch.utils.data.Dataset):
    def __init__(self, root, size, classes, augment):
        self.root, self.size, self.classes, self.augment = root, size, classes, augment
        with open(os.path.join(root, "labels.jsonl")) as f:
            self.recs = [json.loads(l) for l in f if l.strip()]

    def __len__(self):
        return len(self.recs)

    def __getitem__(self, i):
        img, boxes, cellmask = load_sample(self.root, self.recs[i], self.size, self.classes)
        img = img.astype(np.float32) / 255.0
        g = self.size // STRIDE
        # Box targets per cell: the box of the defect that owns the cell (largest wins ties).
        box_t = np.zeros((4, g, g), np.float32)
        pos = np.zeros((g, g), np.float32)
        for c, b in sorted(boxes, key=lambda cb: (cb[1][2] - cb[1][0]) * (cb[1][3] - cb[1][1])):
            sel = cellmask[c] > 0
            for k in range(4):
                box_t[k][sel] = b[k]
            pos[sel] = 1
        if self.augment:
            if random.random() < 0.5:  # horizontal flip: the plate is symmetric
                img = img[:, ::-1]
                cellmask = cellmask[:, :, ::-1]
                pos = pos[:, ::-1]
                box_t = box_t[:, :, ::-1]
                x1 = self.size - box_t[2]
                x2 = self.size - box_t[0]
                box_t = np.stack([x1, box_t[1], x2, box_t[3]])
            if random.random() < 0.5:
                img = img[::-1, :]
                cellmask = cellmask[:, ::-1, :]
                pos = pos[::-1, :]
                box_t = box_t[:, ::-1, :]
                y1 = self.size - box_t[3]
                y2 = self.size - box_t[1]
                box_t = np.stack([box_t[0], y1, box_t[2], y2])
            img = np.clip(img * random.uniform(0.85, 1.15) + random.uniform(-0.05, 0.05), 0, 1)
        x = torch.from_numpy(np.ascontiguousarray(img))[None].repeat(3, 1, 1)
        return x, torch.from_numpy(np.ascontiguousarray(cellmask)), torch.from_numpy(np.ascontiguousarray(box_t)), torch.from_numpy(np.ascontiguousarray(pos))


def conv(cin, cout, s=1, d=1):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, s, padding=d, dilation=d, bias=False), nn.BatchNorm2d(cout), nn.SiLU())


class Detector(nn.Module):
    """Stride-8 anchor-free detector; forward() returns the Ultralytics-shaped output."""

    def __init__(self, nc, size):
        super().__init__()
        self.nc, self.size = nc, size
        self.backbone = nn.Sequential(
            conv(3, 16, 2), conv(16, 32, 2), conv(32, 32), conv(32, 48, 2),
            # Dilated context: a missing hole is only visible against the plate's corner.
            conv(48, 48, d=2), conv(48, 48, d=4), conv(48, 48, d=8),
        )
        self.cls = nn.Sequential(conv(48, 48), nn.Conv2d(48, nc, 1))
        self.reg = nn.Sequential(conv(48, 48), nn.Conv2d(48, 4, 1))
        nn.init.constant_(self.cls[-1].bias, -4.0)
        g = size // STRIDE
        ys, xs = torch.meshgrid(torch.arange(g), torch.arange(g), indexing="ij")
        self.register_buffer("ax", ((xs.float() + 0.5) * STRIDE).reshape(1, 1, g, g))
        self.register_buffer("ay", ((ys.float() + 0.5) * STRIDE).reshape(1, 1, g, g))

    def raw(self, x):
        f = self.backbone(x)
        return self.cls(f), self.reg(f)

    def boxes(self, reg):
        # Distances to the four sides, in pixels (softplus keeps them positive).
        d = F.softplus(reg) * STRIDE * 2
        x1 = self.ax - d[:, 0:1]
        y1 = self.ay - d[:, 1:2]
        x2 = self.ax + d[:, 2:3]
        y2 = self.ay + d[:, 3:4]
        return torch.cat([x1, y1, x2, y2], 1)

    def forward(self, x):
        cls, reg = self.raw(x)
        b = self.boxes(reg)
        cxcywh = torch.cat([(b[:, 0:1] + b[:, 2:3]) / 2, (b[:, 1:2] + b[:, 3:4]) / 2, b[:, 2:3] - b[:, 0:1], b[:, 3:4] - b[:, 1:2]], 1)
        out = torch.cat([cxcywh, torch.sigmoid(cls)], 1)
        return out.flatten(2)  # [1, 4+nc, A], channel-major


def giou_loss(p, t):
    ix1, iy1 = torch.max(p[:, 0], t[:, 0]), torch.max(p[:, 1], t[:, 1])
    ix2, iy2 = torch.min(p[:, 2], t[:, 2]), torch.min(p[:, 3], t[:, 3])
    inter = (ix2 - ix1).clamp(min=0) * (iy2 - iy1).clamp(min=0)
    ap = (p[:, 2] - p[:, 0]) * (p[:, 3] - p[:, 1])
    at = (t[:, 2] - t[:, 0]) * (t[:, 3] - t[:, 1])
    union = ap + at - inter + 1e-6
    iou = inter / union
    cx1, cy1 = torch.min(p[:, 0], t[:, 0]), torch.min(p[:, 1], t[:, 1])
    cx2, cy2 = torch.max(p[:, 2], t[:, 2]), torch.max(p[:, 3], t[:, 3])
    carea = (cx2 - cx1) * (cy2 - cy1) + 1e-6
    return (1 - iou + (carea - union) / carea).mean()


def focal_bce(logits, target, alpha=0.5, gamma=1.5):
    p = torch.sigmoid(logits)
    ce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    pt = p * target + (1 - p) * (1 - target)
    w = (alpha * target + (1 - alpha) * (1 - target)) * (1 - pt) ** gamma
    return (w * ce).sum() / max(1.0, target.sum().item())


def train(args):
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    torch.set_num_threads(2)
    classes = args.classes.split(",")
    ds = Dataset(args.data, args.size, classes, augment=True)
    dl = torch.utils.data.DataLoader(ds, batch_size=args.batch, shuffle=True, num_workers=0, drop_last=True)
    model = Detector(len(classes), args.size)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    steps = args.epochs * len(dl)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=steps, pct_start=0.15)
    t0 = time.time()
    for epoch in range(args.epochs):
        model.train()
        tot = [0.0, 0.0]
        for x, cellmask, box_t, pos in dl:
            cls, reg = model.raw(x)
            lc = focal_bce(cls, cellmask)
            b = model.boxes(reg)
            sel = pos > 0
            if sel.any():
                pb = b.permute(0, 2, 3, 1)[sel]
                tb = box_t.permute(0, 2, 3, 1)[sel]
                lb = giou_loss(pb, tb)
            else:
                lb = torch.zeros(())
            loss = lc + 2.0 * lb
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            tot[0] += lc.item()
            tot[1] += lb.item()
        print(json.dumps({"epoch": epoch + 1, "cls": round(tot[0] / len(dl), 4), "box": round(tot[1] / len(dl), 4), "s": round(time.time() - t0)}), flush=True)
    return model, classes


def export(model, classes, size, out):
    import onnx

    model.eval()
    x = torch.zeros(1, 3, size, size)
    torch.onnx.export(model, x, out, input_names=["images"], output_names=["output0"], opset_version=17, do_constant_folding=True)
    m = onnx.load(out)
    names = "{" + ", ".join(f"{i}: '{c}'" for i, c in enumerate(classes)) + "}"
    meta = {
        "description": "Synthetic-line plate defect detector (inspection station)",
        "author": "inspection-station models/training/train_detector.py",
        "task": "detect",
        "stride": str(STRIDE),
        "batch": "1",
        "imgsz": f"[{size}, {size}]",
        "names": names,
    }
    for k, v in meta.items():
        p = m.metadata_props.add()
        p.key, p.value = k, v
    onnx.save(m, out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True, help="folder written by `station synth`")
    ap.add_argument("--out", required=True, help="ONNX file to write")
    ap.add_argument("--classes", default="scratch,crack,spot,dent,missing_hole")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--epochs", type=int, default=24)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    model, classes = train(args)
    torch.save(model.state_dict(), args.out + ".pt")
    export(model, classes, args.size, args.out)
    print(json.dumps({"exported": args.out}))


if __name__ == "__main__":
    main()
