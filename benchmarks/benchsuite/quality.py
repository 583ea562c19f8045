"""Row 7: clothing-small mAP of the same decoded inputs through the PyTorch path and the fast path (ONNX): the speed
must not cost retrieval quality."""

from __future__ import annotations

import numpy as np

from benchsuite.session import Session


def quality(s: Session) -> None:
    from revsearch import images
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
    with s.measured("quality"):
        fast = np.concatenate([embedder.embed_batch(batch[i : i + 32]) for i in range(0, len(batch), 32)])
        ref = np.concatenate([embedder.embed_batch_torch(batch[i : i + 32]) for i in range(0, len(batch), 32)])
    m_fast, m_ref = retrieval_metrics(fast, labels), retrieval_metrics(ref, labels)
    cos = np.sum(fast * ref, axis=1)
    diff = (m_fast["mAP"] - m_ref["mAP"]) * 100
    row = s.res.rows["quality"]
    if per_class:
        row.measure += f" ({len(labels)}-image subset)"
    row.naive = f"{m_ref['mAP'] * 100:.2f}"
    row.revsearch = f"{m_fast['mAP'] * 100:.2f} ({embedder.backend})"
    row.ratio = f"{diff:+.2f} pts"
    row.met = abs(diff) <= 0.5 and float(cos.min()) >= 0.999
    row.note = (f"leave-one-out over {len(labels)} images, same decoded inputs; per-image cosine fast vs torch: "
                f"min {cos.min():.6f}, mean {cos.mean():.6f}; P@1 {m_ref['P@1']:.3f} vs {m_fast['P@1']:.3f}")
    s.res.raw["quality"] = {"images": len(labels), "torch": m_ref, "fast": m_fast, "diff_points": diff,
                            "cos_min": float(cos.min()), "cos_mean": float(cos.mean())}
