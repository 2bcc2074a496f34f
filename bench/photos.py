"""Benchmark the photo path: bytes a helper's phone uploads, and server processing time.

Run from the repo root (or anywhere): ``python bench/photos.py [--runs N]``.

The input is a synthetic 12-megapixel (4000x3000) "camera" JPEG: smooth lighting gradients,
texture at several scales, hard-edged shapes and sensor noise, saved at quality 92 with EXIF
orientation 6 (phone held upright) and a DateTimeOriginal, like a mid-range Android phone.
Synthetic content is an approximation: real scenes with foliage or brick walls compress worse,
flat walls better.

Prints a human table, then one machine-readable line starting with ``BENCH_JSON ``.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from fieldwork.photos.pipeline import process_photo  # noqa: E402 - needs the path tweak above

UPLOAD_TARGET_KB = 300
PROCESS_TARGET_MS = 150
CLIENT_MAX_PX = 1600
CLIENT_QUALITY = 75  # static/js/camera.js: canvas.toBlob("image/jpeg", 0.75)


def make_camera_jpeg(width: int = 4000, height: int = 3000, seed: int = 7) -> bytes:
    """A photo-like landscape JPEG stored sideways with orientation 6, as phones do."""
    rng = random.Random(seed)  # noqa: S311 - reproducible test pixels, not security
    small = (width // 8, height // 8)

    # Lighting: three differently oriented gradients become the R, G and B channels.
    grad = Image.linear_gradient("L")
    red = grad.rotate(25, fillcolor=90).resize(small)
    green = Image.radial_gradient("L").resize(small)
    blue = grad.transpose(Image.Transpose.ROTATE_90).resize(small)
    base = Image.merge("RGB", (red, green, blue))

    # Objects in the room: furniture-ish blocks, doors, round things, some lines of "text".
    draw = ImageDraw.Draw(base)
    for _ in range(40):
        x0, y0 = rng.randrange(small[0]), rng.randrange(small[1])
        x1, y1 = x0 + rng.randrange(10, 160), y0 + rng.randrange(10, 120)
        colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
        if rng.random() < 0.5:
            draw.rectangle((x0, y0, x1, y1), fill=colour)
        else:
            draw.ellipse((x0, y0, x1, y1), fill=colour, outline=(20, 20, 20))
    for _ in range(30):
        x, y = rng.randrange(small[0]), rng.randrange(small[1])
        draw.line((x, y, x + rng.randrange(-200, 200), y + rng.randrange(-60, 60)), width=2)

    # Upscale to full resolution, then add texture at two scales plus fine sensor noise;
    # without the noise the JPEG would be unrealistically small.
    photo = base.resize((width, height), Image.Resampling.BICUBIC).filter(ImageFilter.SMOOTH)
    coarse = Image.effect_noise((width // 4, height // 4), 40).resize((width, height))
    fine = Image.effect_noise((width, height), 18)
    texture = Image.merge("RGB", (coarse, coarse, coarse))
    grain = Image.merge("RGB", (fine, fine, fine))
    photo = Image.blend(photo, texture, 0.18)
    photo = Image.blend(photo, grain, 0.12)

    # The sensor stores landscape pixels; orientation 6 tells viewers to rotate 90 degrees.
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010F] = "Xiaomi"
    exif[0x0110] = "Redmi Note 12"
    exif.get_ifd(0x8769)[0x9003] = "2024:05:17 10:32:08"
    exif.get_ifd(0x8769)[0x9011] = "+08:00"
    out = io.BytesIO()
    photo.save(out, format="JPEG", quality=92, exif=exif.tobytes())
    return out.getvalue()


def client_downscale(original: bytes) -> bytes:
    """What the upload page does in the browser before sending: long edge 1600, quality 0.75.

    Browsers apply EXIF orientation when drawing to a canvas and the canvas export carries no
    EXIF, so the upload arrives upright and metadata-free.
    """
    with Image.open(io.BytesIO(original)) as im:
        upright = im.convert("RGB").transpose(Image.Transpose.ROTATE_270)
    upright.thumbnail((CLIENT_MAX_PX, CLIENT_MAX_PX), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    upright.save(out, format="JPEG", quality=CLIENT_QUALITY)
    return out.getvalue()


def time_ms(data: bytes, runs: int) -> float:
    process_photo(data)  # warm-up: first call pays for lazy plugin and codec initialisation
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        process_photo(data)
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="timed runs per case (median)")
    args = parser.parse_args()

    original = make_camera_jpeg()
    upload = client_downscale(original)
    upload_kb = len(upload) / 1024
    upload_ms = time_ms(upload, args.runs)
    raw_ms = time_ms(original, args.runs)

    result = process_photo(upload)
    figures = [
        {
            "name": "upload size per photo (client downscale 1600px, q0.75)",
            "value": round(upload_kb, 1),
            "unit": "KB",
            "target": f"≤ {UPLOAD_TARGET_KB} KB",
            "met": upload_kb <= UPLOAD_TARGET_KB,
        },
        {
            "name": "server processing per photo (1600px upload)",
            "value": round(upload_ms, 1),
            "unit": "ms",
            "target": f"≤ {PROCESS_TARGET_MS} ms",
            "met": upload_ms <= PROCESS_TARGET_MS,
        },
        {
            "name": "server processing per photo (raw 12 MP original, draft decode)",
            "value": round(raw_ms, 1),
            "unit": "ms",
            "target": f"≤ {PROCESS_TARGET_MS} ms",
            "met": raw_ms <= PROCESS_TARGET_MS,
        },
    ]

    print(f"CPUs available: {len(os.sched_getaffinity(0))}; median of {args.runs} runs")
    print(f"raw 12 MP original: {len(original) / 1024:.0f} KB (4000x3000, q92, orientation 6)")
    print(
        f"stored result: {result.width}x{result.height}, {len(result.data) / 1024:.0f} KB, "
        f"thumb {len(result.thumb) / 1024:.1f} KB"
    )
    print()
    print(f"{'figure':<64} {'value':>10}  {'target':<10} met")
    for fig in figures:
        value = f"{fig['value']} {fig['unit']}"
        print(f"{fig['name']:<64} {value:>10}  {fig['target']:<10} {'yes' if fig['met'] else 'NO'}")
    print("BENCH_JSON " + json.dumps({"figures": figures}, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
