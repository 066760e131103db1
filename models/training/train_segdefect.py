#!/usr/bin/python3
"""Train a segmentation-based defect model on a labelled folder and export it in the anomalib v2
output contract, so the station decodes it like any anomalib export (no special case).

In the spirit of Tabernik et al. (2019): a segmentation network learns the defect pixels from
the masks; a decision head on top of its features and of the pooled segmentation output gives
the image-level score.

  input  `input` [1,3,H,W] RGB in [0,1], stretched to H×W (`--size W`, `--height H`, default
         square; the station resizes; no antialiasing inside the graph)
  output `pred_score` [1] sigmoid image score (0.5 = the trained threshold)
         `pred_label` [1] bool, `anomaly_map` [1,1,H/4,W/4] sigmoid pixel scores

Data: `good/`, `defect/<class>/`, `masks/<class>/<same base name>.png|.bmp` (mask >= 128 =
defect).

`--good-only`: for a line with no labelled defects yet. Only the good training images are used;
half of each batch gets a synthetic anomaly pasted in (DRAEM/CutPaste-style: a smooth random
blob, a thin random-walk scratch or a patch moved from elsewhere in the image, shifted in
brightness and blended in), and the pasted region is the mask. Defective images of the folder,
if any, are only used for validation. A deterministic split by file-name hash holds back `--val-fraction` of every class for
validation; `--val-list FILE` writes that split as a fixture list (paths relative to the
folder; nothing is copied) for `station eval DIR --list FILE`. CPU only; torch 1.13 from Debian (`/usr/bin/python3`); seeded.
"""
import argparse
import hashlib
import json
import os
import random
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


def list_items(root):
    items = []
    for dirpath, _, files in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        parts = rel.split(os.sep)
        if parts[0] not in ("good", "defect"):
            continue
        for f in sorted(files):
            if not f.lower().endswith(EXTS):
                continue
            cls = parts[1] if parts[0] == "defect" and len(parts) > 1 else None
            mask = None
            if cls:
                base = os.path.splitext(f)[0]
                for ext in EXTS:
                    m = os.path.join(root, "masks", cls, base + ext)
                    if os.path.exists(m):
                        mask = m
                        break
            items.append({"file": os.path.join(rel, f), "cls": cls, "mask": mask})
    return items


def is_val(name, fraction):
    h = int(hashlib.sha256(name.encode()).hexdigest()[:8], 16)
    return (h % 10000) / 10000 < fraction


def smooth_noise(rng, shape, cells):
    """Bilinear-upsampled uniform noise: a cheap stand-in for Perlin noise."""
    low = torch.from_numpy(rng.random((1, 1, cells, cells)).astype(np.float32))
    return F.interpolate(low, size=shape, mode="bilinear", align_corners=False)[0, 0].numpy()


def synthetic_anomaly(img, rng):
    """Paste one synthetic defect into a good image; returns (image, full-resolution mask)."""
    H, W = img.shape
    size = min(H, W)
    kind = rng.integers(3)
    if kind == 0:  # blob: thresholded smooth noise inside a random window
        noise = smooth_noise(rng, (H, W), int(rng.integers(4, 12)))
        win = np.zeros((H, W), np.float32)
        h, w = rng.integers(size // 16, size // 3, 2)
        y, x = rng.integers(0, H - h), rng.integers(0, W - w)
        win[y:y + h, x:x + w] = 1
        mask = ((noise > np.quantile(noise, rng.uniform(0.6, 0.9))) * win).astype(np.float32)
    elif kind == 1:  # scratch: a random walk drawn a few pixels wide
        mask = np.zeros((H, W), np.float32)
        y, x = rng.uniform(0, H), rng.uniform(0, W)
        angle = rng.uniform(0, 2 * np.pi)
        width = int(rng.integers(1, 4))
        for _ in range(int(rng.integers(size // 8, size // 2))):
            angle += rng.normal(0, 0.25)
            y, x = y + np.sin(angle), x + np.cos(angle)
            yi, xi = int(y), int(x)
            mask[max(0, yi - width):max(0, yi + width), max(0, xi - width):max(0, xi + width)] = 1
    else:  # patch moved from elsewhere in the same image (CutPaste)
        mask = np.zeros((H, W), np.float32)
        h, w = rng.integers(size // 16, size // 4, 2)
        y, x = rng.integers(0, H - h), rng.integers(0, W - w)
        sy, sx = rng.integers(0, H - h), rng.integers(0, W - w)
        patch = img[sy:sy + h, sx:sx + w]
        if rng.random() < 0.5:
            patch = patch[::-1, :]
        img = img.copy()
        img[y:y + h, x:x + w] = patch
        mask[y:y + h, x:x + w] = 1
    if mask.sum() < 4:
        return img, np.zeros_like(mask)
    # Brightness change inside the mask: dark pits and bright chips both happen.
    delta = rng.choice([-1, 1]) * rng.uniform(0.08, 0.45)
    texture = smooth_noise(rng, (H, W), 32) * 0.2 - 0.1
    alpha = rng.uniform(0.5, 1.0)
    out = img * (1 - alpha * mask) + np.clip(img + delta + texture, 0, 1) * alpha * mask
    return out.astype(np.float32), mask


class Data(torch.utils.data.Dataset):
    def __init__(self, root, items, size, augment, synthetic=False, seed=0):
        # size: (height, width)
        self.root, self.items, self.size, self.augment, self.synthetic = root, items, size, augment, synthetic
        self.rng = np.random.default_rng(seed)
        self.cache = {}

    def __len__(self):
        return len(self.items)

    def load(self, i):
        if i not in self.cache:
            it = self.items[i]
            h, w = self.size
            img = Image.open(os.path.join(self.root, it["file"])).convert("L").resize((w, h), Image.BILINEAR)
            if it["mask"]:
                m = Image.open(it["mask"]).convert("L").resize((w, h), Image.BILINEAR)
                mask = (np.asarray(m, np.float32) >= 64).astype(np.float32)
            else:
                mask = np.zeros((h, w), np.float32)
            # A defective image whose mask is empty (a few in the magnetic-tile data) teaches the
            # image label only: its seg loss is ignored rather than taught as "all good pixels".
            seg_weight = 0.0 if it["cls"] and not mask.any() else 1.0
            self.cache[i] = (np.asarray(img, np.float32) / 255.0, mask, 1.0 if it["cls"] else 0.0, seg_weight)
        return self.cache[i]

    def __getitem__(self, i):
        img, mask, label, seg_weight = self.load(i)
        if self.synthetic and self.rng.random() < 0.5:
            img, mask = synthetic_anomaly(img, self.rng)
            label = 1.0 if mask.any() else 0.0
        if self.augment:
            if random.random() < 0.5:
                img, mask = img[:, ::-1], mask[:, ::-1]
            if random.random() < 0.5:
                img, mask = img[::-1, :], mask[::-1, :]
            img = np.clip(img * random.uniform(0.85, 1.15) + random.uniform(-0.06, 0.06), 0, 1)
        x = torch.from_numpy(np.ascontiguousarray(img))[None].repeat(3, 1, 1)
        # Full-resolution mask; the training loop pools it to the map's grid after augmenting.
        return x, torch.from_numpy(np.ascontiguousarray(mask))[None], torch.tensor(label), torch.tensor(seg_weight)


def augment_batch(x, m, strength):
    """Random scale/shift/small rotation (one affine per image), sensor noise and gamma, on a batch.
    Images and full-resolution masks move together; reflection padding keeps no black borders."""
    n = x.shape[0]
    if strength <= 0:
        return x, m
    scale = torch.empty(n).uniform_(1 - 0.15 * strength, 1 + 0.15 * strength)
    angle = torch.empty(n).uniform_(-0.08, 0.08) * strength
    tx, ty = (torch.empty(n).uniform_(-0.1, 0.1) * strength for _ in range(2))
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin, tx], 1), torch.stack([sin, cos, ty], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    m = F.grid_sample(m, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    gamma = torch.exp(torch.empty(n, 1, 1, 1).uniform_(-0.25, 0.25) * strength)
    x = x.clamp(1e-4, 1) ** gamma
    x = x + torch.randn_like(x[:, :1]) * torch.empty(n, 1, 1, 1).uniform_(0, 0.02 * strength)
    return x.clamp(0, 1), m


def map_target(m, stride):
    """Full-resolution mask → the map's grid: a cell is a defect when a quarter of it is."""
    return (F.avg_pool2d(m, stride) >= 0.25).float()


def block(cin, cout, s=1, d=1):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, s, padding=d, dilation=d, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class DefectNet(nn.Module):
    """What both architectures share: the decision from pooled features and the pooled map, and
    the exported outputs (image score, label, pixel map)."""

    def decision(self, features, s):
        pooled = torch.cat([
            F.adaptive_max_pool2d(features, 1).flatten(1), F.adaptive_avg_pool2d(features, 1).flatten(1),
            F.adaptive_max_pool2d(s, 1).flatten(1), F.adaptive_avg_pool2d(s, 1).flatten(1),
        ], 1)
        # reshape, not squeeze: OpenCV's ONNX importer (4.6) cannot read a two-input Squeeze.
        return self.head(pooled).reshape(-1)

    def forward(self, x):
        s, logit = self.forward_logits(x)
        score = torch.sigmoid(logit)
        return score, score > 0.5, torch.sigmoid(s)


class SegDefect(DefectNet):
    def __init__(self, width=16):
        super().__init__()
        W = width
        # ImageNet-style normalisation lives inside the graph, as in anomalib exports.
        self.register_buffer("mean", torch.tensor([0.5, 0.5, 0.5]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.25, 0.25, 0.25]).view(1, 3, 1, 1))
        self.enc = nn.Sequential(
            block(3, W, 2), block(W, 2 * W), block(2 * W, 2 * W, 2), block(2 * W, 3 * W), block(3 * W, 3 * W, d=2),
            block(3 * W, 4 * W, d=4), block(4 * W, 4 * W, d=8),
        )
        self.seg = nn.Conv2d(4 * W, 1, 1)
        self.dec = nn.Sequential(block(4 * W + 1, 2 * W, 2), block(2 * W, 2 * W, 2))
        self.head = nn.Linear(2 * W * 2 + 2, 1)

    def forward_logits(self, x):
        f = self.enc((x - self.mean) / self.std)
        s = self.seg(f)
        d = self.dec(torch.cat([f, s], 1))
        return s, self.decision(d, s)


class UNetDefect(DefectNet):
    """A small encoder–decoder: four stride-2 stages, the map decoded back to stride 4 with skip
    connections (fine defects keep their pixels, large ones get context); the decision head reads
    the deepest features and the pooled map."""

    def __init__(self, width=16):
        super().__init__()
        W = width
        self.register_buffer("mean", torch.tensor([0.5, 0.5, 0.5]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.25, 0.25, 0.25]).view(1, 3, 1, 1))
        self.stem = block(3, W, 2)                                     # 1/2
        self.s1 = nn.Sequential(block(W, 2 * W, 2), block(2 * W, 2 * W))          # 1/4
        self.s2 = nn.Sequential(block(2 * W, 4 * W, 2), block(4 * W, 4 * W))      # 1/8
        self.s3 = nn.Sequential(block(4 * W, 6 * W, 2), block(6 * W, 6 * W, d=2))  # 1/16
        self.up2 = block(10 * W, 4 * W)
        self.up1 = block(6 * W, 2 * W)
        self.seg = nn.Conv2d(2 * W, 1, 1)
        self.head = nn.Linear(6 * W * 2 + 2, 1)

    def forward_logits(self, x):
        x = (x - self.mean) / self.std
        f1 = self.s1(self.stem(x))
        f2 = self.s2(f1)
        f3 = self.s3(f2)
        u2 = self.up2(torch.cat([F.interpolate(f3, size=f2.shape[-2:], mode="nearest"), f2], 1))
        u1 = self.up1(torch.cat([F.interpolate(u2, size=f1.shape[-2:], mode="nearest"), f1], 1))
        s = self.seg(u1)
        return s, self.decision(f3, s)


ARCHS = {"dilated": SegDefect, "unet": UNetDefect}


class FlipTTA(nn.Module):
    """Test-time augmentation inside the exported graph: the image and its mirror image in one
    batch of two, scores and maps averaged (the mirrored map flipped back)."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        s, logit = self.net.forward_logits(torch.cat([x, torch.flip(x, dims=[3])], 0))
        maps = torch.sigmoid(s)
        m = (maps[0:1] + torch.flip(maps[1:2], dims=[3])) / 2
        score = torch.sigmoid(logit).mean().reshape(1)
        return score, score > 0.5, m


def auroc(scores, labels):
    """Mann-Whitney U with ties counted half; None when one class is missing."""
    scores, labels = np.asarray(scores, np.float64), np.asarray(labels, bool)
    pos, neg = scores[labels], scores[~labels]
    if len(pos) == 0 or len(neg) == 0:
        return None
    order = np.argsort(np.concatenate([pos, neg]), kind="mergesort")
    ranks = np.empty(len(order))
    allv = np.concatenate([pos, neg])[order]
    i = 0
    while i < len(allv):
        j = i
        while j + 1 < len(allv) and allv[j + 1] == allv[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return float((ranks[:len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def validate(model, ds):
    model.eval()
    scores, labels = [], []
    with torch.no_grad():
        for i in range(len(ds)):
            x, _, y, _ = ds[i]
            score, _, _ = model(x[None])
            scores.append(float(score))
            labels.append(float(y))
    model.train()
    return auroc(scores, labels)


def write_list(out, items, args):
    """The validation split as a fixture list for `station eval DIR --list FILE` (nothing copied)."""
    with open(out, "w") as f:
        f.write(f"# validation split of {os.path.basename(os.path.abspath(args.data))}: file-name hash, fraction {args.val_fraction}\n")
        f.write("# written by models/training/train_segdefect.py; paths relative to the dataset folder\n")
        for it in sorted(items, key=lambda i: i["file"]):
            f.write(it["file"].replace(os.sep, "/") + "\n")


def train(args):
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    torch.set_num_threads(2)
    items = list_items(args.data)
    train_items = [it for it in items if not is_val(it["file"], args.val_fraction)]
    val_items = [it for it in items if is_val(it["file"], args.val_fraction)]
    print(json.dumps({"train": len(train_items), "val": len(val_items), "defective_train": sum(1 for i in train_items if i["cls"])}), flush=True)
    if args.val_list:
        write_list(args.val_list, val_items, args)
    if args.good_only:
        train_items = [it for it in train_items if not it["cls"]]
    hw = (args.height or args.size, args.size)
    ds = Data(args.data, train_items, hw, augment=True, synthetic=args.good_only, seed=args.seed)
    val_ds = Data(args.data, val_items, hw, augment=False)
    if args.good_only:
        sampler = torch.utils.data.RandomSampler(ds)
    else:
        # Balance: defective images are rarer; sample them as often as good ones.
        weights = [1.0 / sum(1 for i in train_items if bool(i["cls"]) == bool(it["cls"])) for it in train_items]
        sampler = torch.utils.data.WeightedRandomSampler(weights, num_samples=len(train_items), replacement=True)
    dl = torch.utils.data.DataLoader(ds, batch_size=args.batch, sampler=sampler, num_workers=0, drop_last=True)
    model = ARCHS[args.arch](args.width)
    ema = torch.optim.swa_utils.AveragedModel(
        model, avg_fn=lambda avg, new, n: args.ema * avg + (1 - args.ema) * new) if args.ema else None
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    t0 = time.time()
    epoch = 0
    # The learning-rate schedule is planned over --epochs; --stop-epoch ends earlier on purpose
    # (to repeat a run that the --minutes limit cut short).
    while epoch < (args.stop_epoch or args.epochs) and time.time() - t0 < args.minutes * 60:
        model.train()
        tot = [0.0, 0.0]
        for x, m, y, w in dl:
            x, m = augment_batch(x, m, args.augment)
            s, logit = model.forward_logits(x)
            target = map_target(m, x.shape[-1] // s.shape[-1])
            per_pixel = F.binary_cross_entropy_with_logits(s, target, pos_weight=torch.tensor(10.0), reduction="none")
            ls = (per_pixel.mean((1, 2, 3)) * w).sum() / w.sum().clamp(min=1)
            lc = F.binary_cross_entropy_with_logits(logit, y)
            loss = ls + lc
            opt.zero_grad()
            loss.backward()
            opt.step()
            if ema:
                ema.update_parameters(model)
            tot[0] += ls.item()
            tot[1] += lc.item()
        epoch += 1
        # Cosine decay to 2 % of the starting rate over the planned epochs.
        for g in opt.param_groups:
            g["lr"] = args.lr * (0.02 + 0.98 * 0.5 * (1 + np.cos(np.pi * min(1.0, epoch / args.epochs))))
        log = {"epoch": epoch, "seg": round(tot[0] / len(dl), 4), "cls": round(tot[1] / len(dl), 4), "s": round(time.time() - t0)}
        if args.val_every and epoch % args.val_every == 0 and val_items:
            log["valAuroc"] = validate(model, val_ds)
            if ema:
                log["valAurocEma"] = validate(final_model(model, ema, dl), val_ds)
        print(json.dumps(log), flush=True)
    return final_model(model, ema, dl)


def final_model(model, ema, dl):
    """The EMA weights with batch-norm statistics recomputed for them (one pass, no augmentation)."""
    if not ema:
        return model
    import copy
    out = copy.deepcopy(ema.module)
    out.train()
    for mod in out.modules():
        if isinstance(mod, nn.BatchNorm2d):
            mod.reset_running_stats()
            mod.momentum = None  # cumulative average over the pass
    with torch.no_grad():
        for x, _, _, _ in dl:
            out.forward_logits(x)
    out.eval()
    return out


def export(model, width, height, out, tta=False):
    import onnx

    model.eval()
    if tta:
        model = FlipTTA(model).eval()
    torch.onnx.export(model, torch.zeros(1, 3, height, width), out, input_names=["input"],
                      output_names=["pred_score", "pred_label", "anomaly_map"], opset_version=17, do_constant_folding=True)
    m = onnx.load(out)
    for k, v in {"task": "segmentation-defect", "imgsz": f"[{height}, {width}]", "author": "inspection-station models/training/train_segdefect.py"}.items():
        p = m.metadata_props.add()
        p.key, p.value = k, v
    onnx.save(m, out)
    with open(out, "rb") as f:
        sha = hashlib.sha256(f.read()).hexdigest()
    manifest = {
        "name": os.path.splitext(os.path.basename(out))[0], "version": "1", "family": "anomalib-v2", "sha256": sha,
        "labels": ["defect"],
        "input": {"name": "input", "width": width, "height": height, "resize": "stretch", "padValue": 0, "colorOrder": "RGB", "scale": 1 / 255},
    }
    with open(os.path.splitext(out)[0] + ".manifest.json", "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--size", type=int, default=256, help="input width (and height unless --height); a multiple of 16")
    ap.add_argument("--height", type=int, help="input height, for tall or wide parts; a multiple of 16")
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--minutes", type=float, default=30)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--val-fraction", type=float, default=0.2)
    ap.add_argument("--val-list", help="write the validation split here as a fixture list for `station eval --list`")
    ap.add_argument("--width", type=int, default=16, help="channels of the first layer; the rest scale with it")
    ap.add_argument("--good-only", action="store_true", help="train on good images with synthetic anomalies")
    ap.add_argument("--arch", choices=sorted(ARCHS), default="unet", help="unet: encoder–decoder with skips (default); dilated: the first, Tabernik-like stack")
    ap.add_argument("--stop-epoch", type=int, help="stop after this many epochs (the schedule still spans --epochs)")
    ap.add_argument("--checkpoint", help="also save the trained weights here (torch), to export again later")
    ap.add_argument("--from-checkpoint", help="do not train: export the weights saved with --checkpoint")
    ap.add_argument("--tta", action="store_true", help="export with mirror-image test-time augmentation in the graph (2× inference)")
    ap.add_argument("--ema", type=float, default=0.998, help="exponential moving average of the weights (0 = off)")
    ap.add_argument("--augment", type=float, default=1.0, help="strength of scale/shift/rotation/gamma/noise augmentation (0 = flips and gain only)")
    ap.add_argument("--val-every", type=int, default=0, help="report validation AUROC every N epochs (0 = never)")
    args = ap.parse_args()
    if args.from_checkpoint:
        ck = torch.load(args.from_checkpoint, map_location="cpu")
        model = ARCHS[ck["arch"]](ck["width"])
        model.load_state_dict(ck["state"])
    else:
        model = train(args)
        if args.checkpoint:
            torch.save({"arch": args.arch, "width": args.width, "state": model.state_dict()}, args.checkpoint)
    export(model, args.size, args.height or args.size, args.out, tta=args.tta)
    print(json.dumps({"exported": args.out}))


if __name__ == "__main__":
    main()
