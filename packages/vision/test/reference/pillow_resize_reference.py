#!/usr/bin/env python3
"""Pillow's Image.resize (what torchvision's Resize runs on PIL images) on small patterned RGB images.

test/resize.test.ts pins the printed bytes (hex, row-major HWC) as literals for `antialias: true`.
Needs Pillow and numpy; the literals in the test came from Pillow 12.3.0. Run: python3 pillow_resize_reference.py
"""
import numpy as np
from PIL import Image, __version__ as pil_version


def pattern(w, h):
    """pixel (x, y) channel c = (37x + 91y + 53c + 13xy) mod 256; test/resize.test.ts builds the same."""
    y, x, c = np.meshgrid(np.arange(h), np.arange(w), np.arange(3), indexing="ij")
    return ((37 * x + 91 * y + 53 * c + 13 * x * y) % 256).astype(np.uint8)


CASES = [
    (7, 5, 3, 2, "bilinear"),
    (7, 5, 3, 2, "bicubic"),
    (5, 4, 9, 7, "bicubic"),
    (9, 4, 4, 6, "bilinear"),
    (9, 4, 4, 6, "bicubic"),
]

if __name__ == "__main__":
    print("Pillow", pil_version)
    for w, h, ow, oh, kernel in CASES:
        resample = Image.BILINEAR if kernel == "bilinear" else Image.BICUBIC
        out = Image.fromarray(pattern(w, h), "RGB").resize((ow, oh), resample)
        print(f"{w}x{h} -> {ow}x{oh} {kernel}: {np.asarray(out).tobytes().hex()}")
