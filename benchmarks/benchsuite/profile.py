"""Where the time goes: each stage alone, per image, single thread (the model: as the pipelines run it), and how
fast the decoder's guards refuse a decompression bomb (timings that used to be asserted in tests/unit)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from benchsuite.inputs import jpeg_bomb, png_bomb
from benchsuite.measure import median_ms, per_item_ms
from benchsuite.session import Session

ALONE = "one thread, batch 1 (as indexing runs it)"


def profile(s: Session) -> None:
    s.embedder, s.naive  # noqa: B018 - load both before timing
    s.res.profile = s.timed("profile", lambda: profile_once(s))


def profile_once(s: Session) -> dict[str, Any]:
    from revsearch import images
    from revsearch.files import content_hash
    from revsearch.embed.views import letterbox
    from revsearch.indexing import pixel_measures

    embedder, naive = s.embedder, s.naive
    n = s.plan.profile_images
    prof: dict[str, Any] = {}
    for kind in ("vga", "mp12"):
        files = s.inputs(kind)[:n]
        s.log(f"profile: {kind}, {len(files)} images")
        st: dict[str, float] = {}

        def per_image(fn: Callable[[Path], object]) -> float:
            fn(files[0])
            t = time.perf_counter()
            for p in files:
                fn(p)
            return (time.perf_counter() - t) / len(files) * 1e3

        st["read file"] = per_image(lambda p: p.read_bytes())
        st["hash (SHA-256, includes read)"] = per_image(content_hash)
        st["probe (header)"] = per_image(images.probe)
        st["decode, full (naive)"] = per_image(naive.decode)
        st["decode, JPEG draft (revsearch)"] = per_image(lambda p: images.load_image(p, target=224))
        fulls = [naive.decode(p) for p in files[: min(len(files), 4)]]
        drafts = [images.load_image(p, target=224) for p in files]
        i_full = iter(range(10**9))
        st["Resize(256)+CenterCrop+ToTensor (naive)"] = per_item_ms(
            lambda: naive.transform(fulls[next(i_full) % len(fulls)]), len(fulls) * 2)
        i_draft = iter(range(10**9))
        st["prepare: both views (revsearch)"] = per_item_ms(
            lambda: embedder.prepare(drafts[next(i_draft) % len(drafts)]), len(drafts) * 2)
        st["pixel measures (revsearch)"] = per_item_ms(
            lambda: pixel_measures.measure(drafts[next(i_draft) % len(drafts)]), len(drafts) * 2)
        prof[kind] = st
        prof[f"{kind}_draft_size"] = "×".join(map(str, drafts[0].size))
    size = embedder.input_size
    photos = [images.load_image(p, target=224) for p in (s.inputs("vga") * 32)[:32]]
    batch = np.stack([letterbox(img, embedder.spec) for img in photos])
    prepared = [embedder.prepare(img) for img in photos]
    model: dict[str, float] = {}
    precisions = (embedder.precision, *sorted({"int8", "fp32"} - {embedder.precision}))
    for precision in precisions if embedder.backend == "onnx" else (embedder.precision,):  # torch: fp32 only
        run = embedder.for_precision(precision)
        name = f"{run.backend} {run.precision}"
        model[f"{name}, batch 32, per view (224²)"] = median_ms(lambda: run.embed_batch(batch), 3) / 32
        model[f"{name}, batch 1"] = median_ms(lambda: run.embed_batch(batch[:1]), 10)
        model[f"{name}, {run.input_mode}, per 640×480 photo"] = median_ms(lambda: run.embed_prepared(prepared), 3) / 32
        if run.runs_alone:  # how indexing runs it: each worker one photo at a time on a single-thread session
            model[f"{name}, {run.input_mode}, per 640×480 photo, {ALONE}"] = median_ms(
                lambda: [run.embed_alone(p) for p in prepared], 3) / 32
    x = naive.torch.zeros(3, size, size)
    model["PyTorch eager, batch 1 (naive)"] = median_ms(lambda: naive.forward(x), 10)
    model["PyTorch channels_last, batch 32, per image (torch path)"] = median_ms(
        lambda: embedder.embed_batch_torch(batch), 2) / 32
    prof["model"] = model
    prof["guards"] = guards(s.tmp)
    prof["threads"] = {"torch": naive.torch.get_num_threads(), "cores": s.res.machine.get("cores")}
    return prof


def guards(tmp: Path) -> dict[str, float]:
    """ms to refuse (load_image) or size up (probe) a few-byte file that claims 16000×16000 pixels: the guards must
    read the header only, never allocate the 768 MB such a bitmap would need."""
    from revsearch import images

    png = tmp / "bomb.png"
    png.write_bytes(png_bomb())
    jpeg = jpeg_bomb()
    for refused in (images.load_image(png), images.load_image(jpeg)):
        if not isinstance(refused, images.Skip):
            raise RuntimeError("a 16000×16000 decompression bomb was decoded instead of refused")
    return {"load_image refuses a 16000² PNG bomb": median_ms(lambda: images.load_image(png), 5),
            "load_image refuses a 16000² JPEG bomb": median_ms(lambda: images.load_image(jpeg), 5),
            "probe reads a 16000² PNG bomb's header": median_ms(lambda: images.probe(png), 5)}
