#!/usr/bin/env python3
"""torch F.interpolate(mode, align_corners=False, antialias=False) re-implemented in float64 numpy, written
from the structure of torch's C++ kernels (aten/src/ATen/native/UpSample.h and UpSampleKernel.cpp), not
from src/resize.ts: direct 2D sums, source index (dst + 0.5) * in/out - 0.5; bilinear clamps it at 0 and
repeats the last index; bicubic uses Keys' a = -0.75 with taps clamped to the image. The float result is
clamped and rounded half to even (numpy's round, as torch.round), as torchvision does for uint8 images.

test/resize.test.ts pins the printed bytes (hex, row-major HWC) for `antialias: false`.
Run: python3 torch_resize_reference.py
"""
import numpy as np

from pillow_resize_reference import pattern

A = -0.75


def cubic1(x):
    return ((A + 2) * x - (A + 3)) * x * x + 1


def cubic2(x):
    return ((A * x - 5 * A) * x + 8 * A) * x - 4 * A


def bilinear(img, oh, ow):
    ih, iw, _ = img.shape
    out = np.zeros((oh, ow, 3))
    for oy in range(oh):
        ry = max(ih / oh * (oy + 0.5) - 0.5, 0.0)
        y0 = int(ry)
        yp = 1 if y0 < ih - 1 else 0
        l1 = ry - y0
        for ox in range(ow):
            rx = max(iw / ow * (ox + 0.5) - 0.5, 0.0)
            x0 = int(rx)
            xp = 1 if x0 < iw - 1 else 0
            w1 = rx - x0
            top = (1 - w1) * img[y0, x0] + w1 * img[y0, x0 + xp]
            bottom = (1 - w1) * img[y0 + yp, x0] + w1 * img[y0 + yp, x0 + xp]
            out[oy, ox] = (1 - l1) * top + l1 * bottom
    return out


def bicubic(img, oh, ow):
    ih, iw, _ = img.shape
    out = np.zeros((oh, ow, 3))

    def coeffs(t):
        return [cubic2(t + 1), cubic1(t), cubic1(1 - t), cubic2(2 - t)]

    for oy in range(oh):
        ry = ih / oh * (oy + 0.5) - 0.5
        iy = int(np.floor(ry))
        cy = coeffs(ry - iy)
        for ox in range(ow):
            rx = iw / ow * (ox + 0.5) - 0.5
            ix = int(np.floor(rx))
            cx = coeffs(rx - ix)
            for a in range(4):
                yy = min(max(iy - 1 + a, 0), ih - 1)
                for b in range(4):
                    xx = min(max(ix - 1 + b, 0), iw - 1)
                    out[oy, ox] += cy[a] * cx[b] * img[yy, xx]
    return out


CASES = [
    (7, 5, 3, 2, "bilinear"),
    (7, 5, 3, 2, "bicubic"),
    (5, 4, 9, 7, "bicubic"),
    (9, 4, 4, 6, "bilinear"),
]

if __name__ == "__main__":
    for w, h, ow, oh, kernel in CASES:
        img = pattern(w, h).astype(np.float64)
        out = (bilinear if kernel == "bilinear" else bicubic)(img, oh, ow)
        out = np.round(np.clip(out, 0, 255)).astype(np.uint8)
        print(f"{w}x{h} -> {ow}x{oh} {kernel}: {out.tobytes().hex()}")
