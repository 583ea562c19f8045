"""Row 7: clothing-small mAP of the same decoded inputs through the PyTorch path and the fast path (ONNX in the
default precision, int8; and the fp32 graph it is quantised from): the speed must not cost retrieval quality."""

from __future__ import annotations

import numpy as np

from benchsuite.session import Session


def quality(s: Session) -> None:
    from revsearch import images
    from revsearch.embed.quantize import MIN_COSINE
    from revsearch.precisions import FP32
    from revsearch.evaluate import retrieval_metrics

    embedder = s.embedder
    rows = s.rows
    per_class = s.plan.quality_per_class
    if per_class:
        per: dict[str, int] = {}
        picked = []
        for path, label in rows:
            if per.get(label, 0) < per_class:
                per[label] = per.get(label, 0) + 1
                picked.append((path, label))
        rows = picked
    s.log(f"quality: {len(rows)} clothing-small images through both backends")
    arrays, labels = [], []
    for path, label in rows:
        img = images.load_image(path, target=embedder.input_size)
        if isinstance(img, images.Skip):
            continue
        arrays.append(embedder.prepare(img).square)  # the backends compared on the square input
        labels.append(label)
    batch = np.stack(arrays)
    fp32 = embedder.for_precision(FP32) if embedder.backend == "onnx" else embedder

    def run(fn) -> np.ndarray:  # type: ignore[no-untyped-def]
        return np.concatenate([fn(batch[i : i + 32]) for i in range(0, len(batch), 32)])

    with s.measured("quality"):
        fast, exported, ref = run(embedder.embed_batch), run(fp32.embed_batch), run(embedder.embed_batch_torch)
    m_fast, m_fp32, m_ref = (retrieval_metrics(v, labels) for v in (fast, exported, ref))
    cos, cos_fp32 = np.sum(fast * ref, axis=1), np.sum(exported * ref, axis=1)
    diff = (m_fast["mAP"] - m_ref["mAP"]) * 100
    row = s.res.rows["quality"]
    if per_class:
        row.measure += f" ({len(labels)}-image subset)"
    row.naive = f"{m_ref['mAP'] * 100:.2f}"
    row.revsearch = f"{m_fast['mAP'] * 100:.2f} ({embedder.backend} {embedder.precision})"
    row.ratio = f"{diff:+.2f} pts"
    row.met = abs(diff) <= 0.5 and float(cos_fp32.min()) >= 0.999 and float(cos.min()) >= MIN_COSINE
    row.note = (f"leave-one-out over {len(labels)} images, same decoded inputs (square view); per-image cosine to "
                f"torch: {embedder.precision} min {cos.min():.4f}, mean {cos.mean():.4f}; {fp32.backend} fp32 min "
                f"{cos_fp32.min():.6f}; mAP {fp32.precision} {m_fp32['mAP'] * 100:.2f}; P@1 torch {m_ref['P@1']:.3f}, "
                f"{embedder.precision} {m_fast['P@1']:.3f}")
    s.res.raw["quality"] = {"images": len(labels), "torch": m_ref, "fast": m_fast, "fp32": m_fp32,
                            "diff_points": diff, "cos_min": float(cos.min()), "cos_mean": float(cos.mean()),
                            "cos_fp32_min": float(cos_fp32.min())}
