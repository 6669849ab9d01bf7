#!/usr/bin/env python3
"""make_glm4v_preproc_fixture.py - test images and expected GLM-4.1V preprocessing (tests/test_image.c).

Two steps:

  python3 make_glm4v_preproc_fixture.py images tests/data/image
      Writes the deterministic test images (PNG/JPEG, made from formulas here; any Pillow) and, for
      the PNG decoding cases PIL reads the same everywhere (palette + tRNS, 16-bit, Adam7-interlaced,
      grey+alpha), the RGB that PIL's Image.open(...).convert("RGB") gives, as NAME.rgb (raw bytes).
      16-bit and interlaced PNGs are written by a small encoder here (Pillow writes neither).

  python3 make_glm4v_preproc_fixture.py expected tests/data/image OUTDIR
      On a machine with transformers (5.x), Pillow, torch, torchvision and numpy (the GPU machine;
      nothing is downloaded: the processors are built from their classes with the checkpoint's
      preprocessor_config.json values): runs the GLM-4.1V image processor on every test image and on
      a 1080x2400 synthetic phone screenshot (phone_pixel() below; tests/test_image.c computes the
      same formula), and writes OUTDIR/glm4v_preproc.json plus OUTDIR/NAME.f32 (little-endian
      float32 rows of pixel_values), OUTDIR/NAME.colsum.f64 (float64 sums of each column over all rows) and OUTDIR/NAME.jpeg.rgb (PIL's decode of each JPEG).
      Small images keep all rows; large ones a deterministic sample of rows plus the per-column
      sums over all rows (float64), so the committed files stay small.

The processor matched is the PIL backend (Glm4vImageProcessorPil in transformers 5; the
Glm4vImageProcessor of transformers 4.x that the checkpoints were released with); the torchvision
backend's difference from it is measured and written to the JSON (docs/VISION.md).
"""
import json
import os
import struct
import sys
import time
import zlib

# the checkpoint's preprocessor_config.json (THUDM/GLM-4.1V-9B-Thinking, zai-org/AutoGLM-Phone-9B)
PREPROC = {
    "size": {"shortest_edge": 12544, "longest_edge": 9633792},
    "patch_size": 14,
    "temporal_patch_size": 2,
    "merge_size": 2,
    "image_mean": [0.48145466, 0.4578275, 0.40821073],
    "image_std": [0.26862954, 0.26130258, 0.27577711],
    "resample": 3,  # BICUBIC
    "do_rescale": True,
    "rescale_factor": 1 / 255,
    "do_normalize": True,
    "do_convert_rgb": True,
}
FULL_ROWS = {"small_rgb_40x30.png"}  # stored whole (48 rows); the others sampled
SAMPLE_ROWS = 8    # otherwise: this many rows, evenly spread, plus column sums

PHONE_W, PHONE_H = 1080, 2400


def phone_pixel(x, y):
    """The synthetic screenshot: gradients, a status bar, text-like stripes, cards (integer math only)."""
    r = (x * 255) // (PHONE_W - 1)
    g = (y * 255) // (PHONE_H - 1)
    b = ((x + y) * 3) & 255
    if y < 80:  # status bar
        r, g, b = 20, 24, 28
        if 30 <= y < 50 and (x // 9) % 3 == 0 and x < 300:
            r = g = b = 230
    elif (y // 60) % 4 == 1 and 40 <= x < 1040:  # a card with lines of "text"
        r, g, b = 250, 250, 250
        line = (y % 60)
        if 18 <= line < 42 and ((x * 7 + (y // 60) * 13) // 11) % 5 != 0 and (x // 97) % 4 != 3:
            r, g, b = 30 + (x % 7), 30, 40 + (y % 5)
    return r, g, b


def pattern(x, y, w, h, seed):
    return (((x * 255) // max(1, w - 1) + seed * 31) & 255,
            ((y * 255) // max(1, h - 1) + ((x // 5 + y // 3) % 2) * 90) & 255,
            ((x * y + seed * 17) // 7) & 255)


# ---------------------------------------------------------------- a small PNG encoder (16-bit, Adam7)

def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff)


def png_encode(w, h, color_type, depth, pixel_bytes, interlace=False, extra=b""):
    """pixel_bytes(x, y) -> bytes of one pixel (depth >= 8)."""
    raw = bytearray()
    if not interlace:
        passes = [(0, 0, 1, 1)]
    else:
        passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
    for x0, y0, dx, dy in passes:
        xs = list(range(x0, w, dx))
        ys = list(range(y0, h, dy))
        if not xs or not ys:
            continue
        for y in ys:
            raw.append(0)  # filter: none
            for x in xs:
                raw += pixel_bytes(x, y)
    ihdr = struct.pack(">IIBBBBB", w, h, depth, color_type, 0, 0, 1 if interlace else 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + extra +
            png_chunk(b"IDAT", zlib.compress(bytes(raw), 9)) + png_chunk(b"IEND", b""))


def write_images(outdir):
    from PIL import Image
    os.makedirs(outdir, exist_ok=True)

    def save(img, name, **kw):
        img.save(os.path.join(outdir, name), **kw)

    def image_of(mode, w, h, fn):
        img = Image.new(mode, (w, h))
        img.putdata([fn(x, y) for y in range(h) for x in range(w)])
        return img

    # preprocessing cases
    save(image_of("RGB", 40, 30, lambda x, y: pattern(x, y, 40, 30, 1)), "small_rgb_40x30.png")  # upscaled
    save(image_of("RGB", 301, 157, lambda x, y: pattern(x, y, 301, 157, 2)), "rgb_301x157.png")  # not /28
    save(image_of("RGBA", 308, 70, lambda x, y: pattern(x, y, 308, 70, 3) + ((x * 5 + y) & 255,)),
         "rgba_308x70.png")  # 70 / 28 = 2.5: Python's round-half-even
    save(image_of("L", 100, 100, lambda x, y: (x * 2 + y + (x * y) % 13) & 255), "grey_100x100.png")
    save(image_of("RGB", 160, 120, lambda x, y: pattern(x, y, 160, 120, 4)), "photo_160x120.jpg",
         quality=90)  # 4:2:0
    save(image_of("L", 64, 48, lambda x, y: (x * 4 + y * 2) & 255), "grey_prog_64x48.jpg",
         quality=85, progressive=True)
    cmyk = image_of("CMYK", 32, 24, lambda x, y: (x * 8 & 255, y * 10 & 255, (x + y) * 4 & 255, (x * y) & 127))
    save(cmyk, "cmyk_32x24.jpg", quality=95)
    save(image_of("RGB", PHONE_W, PHONE_H, phone_pixel), "phone_1080x2400.png", optimize=True)

    # PNG decoding cases, with PIL's RGB
    pal = image_of("RGB", 24, 16, lambda x, y: ((x // 4) * 40, (y // 4) * 60, 128)).quantize(colors=16)
    pal.info["transparency"] = 3
    save(pal, "palette_trns_24x16.png", transparency=3)
    with open(os.path.join(outdir, "rgb16_24x16.png"), "wb") as f:
        f.write(png_encode(24, 16, 2, 16, lambda x, y: struct.pack(">HHH", x * 2731, y * 4093, (x * y * 311) & 0xffff)))
    with open(os.path.join(outdir, "rgba_interlaced_27x19.png"), "wb") as f:
        f.write(png_encode(27, 19, 6, 8, lambda x, y: bytes(pattern(x, y, 27, 19, 5)) + bytes([(x * 9) & 255]),
                           interlace=True))
    save(image_of("LA", 20, 10, lambda x, y: ((x * 12) & 255, (y * 25) & 255)), "grey_alpha_20x10.png")
    for name in ["palette_trns_24x16.png", "rgb16_24x16.png", "rgba_interlaced_27x19.png", "grey_alpha_20x10.png",
                 "small_rgb_40x30.png"]:
        with Image.open(os.path.join(outdir, name)) as img:
            rgb = img.convert("RGB")
            with open(os.path.join(outdir, name + ".rgb"), "wb") as f:
                f.write(rgb.tobytes())


# ---------------------------------------------------------------- expected processor outputs

class _MockProcessor:
    """GLM4V_FIXTURE_MOCK=1: a numpy restatement of the PIL processor, only to try this script's
    plumbing where transformers is missing (the committed fixture never comes from it)."""

    def __call__(self, images, return_tensors=None, size=None):
        import math
        import numpy as np
        from PIL import Image
        size = size or PREPROC["size"]
        img = images[0].convert("RGB")
        w, h = img.size
        f, nf = 28, 2
        if h < f or w < f:
            s = max(f / h, f / w)
            h, w = int(h * s), int(w * s)
        hb, wb = round(h / f) * f, round(w / f) * f
        if nf * hb * wb > size["longest_edge"]:
            b = math.sqrt(nf * h * w / size["longest_edge"])
            hb, wb = max(f, math.floor(h / b / f) * f), max(f, math.floor(w / b / f) * f)
        elif nf * hb * wb < size["shortest_edge"]:
            b = math.sqrt(size["shortest_edge"] / (nf * h * w))
            hb, wb = math.ceil(h * b / f) * f, math.ceil(w * b / f) * f
        x = (np.asarray(img.resize((wb, hb), Image.BICUBIC)).astype(np.float64) * (1 / 255)).astype(np.float32)
        x = (x - np.float32(PREPROC["image_mean"])) / np.float32(PREPROC["image_std"])
        x = x.transpose(2, 0, 1)[None, None]
        x = np.concatenate([x, x], axis=1)
        gh, gw = hb // 14, wb // 14
        p = x.reshape(1, 1, 2, 3, gh // 2, 2, 14, gw // 2, 2, 14).transpose(0, 1, 4, 7, 5, 8, 3, 2, 6, 9)
        return {"pixel_values": p.reshape(gh * gw, 1176), "image_grid_thw": np.array([[1, gh, gw]])}


def make_processors():
    if os.environ.get("GLM4V_FIXTURE_MOCK"):
        return "mock", _MockProcessor(), None
    import transformers
    kw = dict(PREPROC)
    pil = tv = None
    try:
        from transformers.models.glm4v.image_processing_pil_glm4v import Glm4vImageProcessorPil
        pil = Glm4vImageProcessorPil(**kw)
        from transformers.models.glm4v.image_processing_glm4v import Glm4vImageProcessor
        tv = Glm4vImageProcessor(**kw)
    except ImportError:  # transformers 4.x: the slow processor is the PIL one
        from transformers.models.glm4v.image_processing_glm4v import Glm4vImageProcessor
        pil = Glm4vImageProcessor(**kw)
        try:
            from transformers.models.glm4v.image_processing_glm4v_fast import Glm4vImageProcessorFast
            tv = Glm4vImageProcessorFast(**kw)
        except ImportError:
            tv = None
    return transformers.__version__, pil, tv


def write_expected(imgdir, outdir):
    import numpy as np
    import PIL
    from PIL import Image
    os.makedirs(outdir, exist_ok=True)
    tf_version, pil_proc, tv_proc = make_processors()
    manifest = {"transformers": tf_version, "pillow": PIL.__version__, "processor": type(pil_proc).__name__,
                "torchvision_processor": type(tv_proc).__name__ if tv_proc else None,
                "preprocessor_config": PREPROC, "images": {}}
    try:
        import torchvision
        manifest["torchvision"] = torchvision.__version__
    except ImportError:
        pass

    # (name, image, processor overrides): the last one a smaller pixel budget, so that the resize
    # shrinks the screenshot (antialiased downscaling)
    small_budget = {"shortest_edge": 12544, "longest_edge": 28 * 28 * 1280}
    cases = [(n, n, None) for n in ["small_rgb_40x30.png", "rgb_301x157.png", "rgba_308x70.png", "grey_100x100.png",
                                    "photo_160x120.jpg", "grey_prog_64x48.jpg", "cmyk_32x24.jpg"]]
    cases += [("phone_1080x2400", "phone_1080x2400", None),
              ("phone_1080x2400_max1003520", "phone_1080x2400", small_budget)]
    for name, source, overrides in cases:
        if source == "phone_1080x2400":
            arr = np.zeros((PHONE_H, PHONE_W, 3), np.uint8)
            flat = [phone_pixel(x, y) for y in range(PHONE_H) for x in range(PHONE_W)]
            arr[:] = np.array(flat, np.uint8).reshape(PHONE_H, PHONE_W, 3)
            img = Image.fromarray(arr, "RGB")
        else:
            img = Image.open(os.path.join(imgdir, source))
            img.load()
        entry = {"source": source, "mode": img.mode, "image_size": list(img.size)}
        if name.endswith(".jpg"):
            rgb = img.convert("RGB").tobytes()
            with open(os.path.join(outdir, name + ".rgb"), "wb") as f:
                f.write(rgb)
            entry["decoded_rgb"] = name + ".rgb"
        kw = {"size": overrides} if overrides else {}
        if overrides:
            entry["size"] = overrides
        t0 = time.perf_counter()
        out = pil_proc(images=[img], return_tensors="np", **kw)
        entry["processor_seconds"] = time.perf_counter() - t0
        pv = np.asarray(out["pixel_values"], dtype=np.float32)
        thw = [int(v) for v in np.asarray(out["image_grid_thw"]).reshape(-1)]
        n = pv.shape[0]
        if name in FULL_ROWS:
            rows = list(range(n))
        else:
            rows = sorted(set(int(i * (n - 1) // (SAMPLE_ROWS - 1)) for i in range(SAMPLE_ROWS)))
        entry.update({"grid_thw": thw, "n_rows": n, "patch_dim": int(pv.shape[1]), "rows": rows,
                      "rows_file": name + ".f32",
                      "colsum_file": name + ".colsum.f64"})
        pv[rows].astype("<f4").tofile(os.path.join(outdir, name + ".f32"))
        pv.astype(np.float64).sum(axis=0).astype("<f8").tofile(os.path.join(outdir, name + ".colsum.f64"))
        try:
            t0 = time.perf_counter()
            tvo = tv_proc(images=[img], return_tensors="pt", **kw)
            entry["torchvision_processor_seconds"] = time.perf_counter() - t0
        except Exception as e:  # noqa: BLE001 - recorded, not fatal: the PIL backend is the reference
            tvo = None
            entry["torchvision_error"] = repr(e)
        if tvo is not None:
            tpv = tvo["pixel_values"].numpy().astype(np.float32)
            tthw = [int(v) for v in tvo["image_grid_thw"].numpy().reshape(-1)]
            entry["torchvision_grid_thw"] = tthw
            if tpv.shape == pv.shape:
                d = np.abs(tpv - pv)
                entry["torchvision_max_abs_diff"] = float(d.max())
                entry["torchvision_mean_abs_diff"] = float(d.mean())
                # in 8-bit steps of the resized image: |diff| * std * 255
                entry["torchvision_max_level_diff"] = float(
                    (d.reshape(n, 3, -1).max(axis=(0, 2)) * np.array(PREPROC["image_std"]) * 255).max())
        manifest["images"][name] = entry
        print(name, entry["mode"], entry["image_size"], "grid", thw, "rows", n,
              "tv diff", entry.get("torchvision_max_abs_diff"), flush=True)
    with open(os.path.join(outdir, "glm4v_preproc.json"), "w") as f:
        json.dump(manifest, f, indent=1)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "images":
        write_images(sys.argv[2])
    elif len(sys.argv) == 4 and sys.argv[1] == "expected":
        write_expected(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
