"""The report: BENCHMARKS.md (machine, the table of issue 5 with ratios, notes, profile, inputs, the hand-written
analysis), the same table as plain text for stdout, and the raw numbers as JSON."""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path

from benchsuite.inputs import BENCHMARKS_DIR
from benchsuite.plans import ROW_KEYS, Results
from benchsuite.profile import ALONE


def render(res: Results, command: str, total_s: float) -> str:
    m = res.machine
    v = m.get("versions", {})
    lines = [
        "# revsearch benchmarks",
        "",
        f"Measured by `{command}` ({res.plan.mode} run, {total_s / 60:.1f} min) on "
        f"{time.strftime('%Y-%m-%d %H:%M %Z')}. Naive and revsearch run side by side in the same process on the same "
        "files; ratios compare numbers from this run only. Regenerate with the command above.",
        "",
        "## Machine",
        "",
        f"- CPU: {m.get('cpu')} — {m.get('cores')} cores usable" + (f" ({m['simd']})" if m.get("simd") else ""),
        f"- RAM: {m.get('ram_gb')} GB · {m.get('os')} · Python {m.get('python')}",
        "- " + " · ".join(f"{k} {val}" for k, val in v.items()),
        f"- revsearch backend: {res.raw.get('backend', '?')} (embedder load {res.raw.get('embedder_load_s', 0):.1f} s)",
        "",
        "## Targets (issues 5 and 17)",
        "",
        "| measure | naive (measured) | revsearch (measured) | target | ratio | met? |",
        "|---|---|---|---|---|---|",
    ]
    for key in ROW_KEYS:
        r = res.rows[key]
        lines.append(f"| {r.measure} | {r.naive} | {r.revsearch} | {r.target} | {r.ratio} | {r.met_text} |")
    busy = {label: v for label, v in res.load.items() if v >= 0.25}
    if busy:
        lines += ["", "**Shared machine:** other processes kept CPU cores busy during some measurements ("
                  + ", ".join(f"{label}: {v:.1f} of {m.get('cores')} cores" for label, v in busy.items())
                  + "); those numbers understate what this machine does when idle. Rerun with --wait-quiet 60."]
    lines += ["", "Notes per row (cores used by other processes while each was timed in brackets):", ""]
    for key in ROW_KEYS:
        r = res.rows[key]
        loads = [f"{label} {v:.2f}" for label, v in res.load.items() if label.split()[0] == key]
        if r.note or loads:
            lines.append(f"- **{key}**: {r.note}" + (f" [other load: {', '.join(loads)}]" if loads else ""))
    lines += ["", "## Profile: where the time goes (per image, each stage alone)", ""]
    if "profile" in res.load:
        lines += [f"Other processes used {res.load['profile']:.2f} cores while this was measured.", ""]
    if res.profile:
        lines += render_profile(res)
    else:
        lines.append("not measured in this run")
    if res.inputs:
        lines += ["", "## Inputs", ""]
        for kind, d in res.inputs.items():
            what = "640×480 (resized clothing-small, q90)" if kind == "vga" else \
                "12 MP 4000×3000 (upscaled clothing-small + mild noise, q92)"
            lines.append(f"- {what}: {d['files']} files, {d['mean_mb']} MB mean ({d['min_mb']}–{d['max_mb']} MB), "
                         f"cached in `{d['folder']}`")
        lines.append("- vectors: synthetic clustered 1280-d (hierarchical mixture of Gaussians, low-rank spread per "
                     "cluster, L2-normalised), written into the collection with `Collection.add_rows`")
    analysis = BENCHMARKS_DIR / "ANALYSIS.md"
    if analysis.is_file():
        lines += ["", analysis.read_text(encoding="utf-8").strip()]
    lines += ["", "Stage wall times (s): " + ", ".join(f"{k} {s:.0f}" for k, s in res.seconds.items()), ""]
    return "\n".join(lines)


def render_profile(res: Results) -> list[str]:
    prof = res.profile
    stages = list(prof.get("mp12", prof.get("vga", {})).keys())
    lines = ["| stage (1 thread unless noted) | 640×480 ms | 12 MP ms |", "|---|---|---|"]
    for s in stages:
        lines.append(f"| {s} | {_f(prof.get('vga', {}).get(s))} | {_f(prof.get('mp12', {}).get(s))} |")
    lines += ["", f"JPEG draft decodes 640×480 to {prof.get('vga_draft_size')} and 12 MP to "
                  f"{prof.get('mp12_draft_size')} (DCT scaling, short side ≥ 224).", "",
              "| model (all cores unless noted) | ms |", "|---|---|"]
    for s, val in prof.get("model", {}).items():
        lines.append(f"| {s} | {_f(val)} |")
    if prof.get("guards"):
        lines += ["", "| guard against decompression bombs (1 thread) | ms |", "|---|---|"]
        for s, val in prof["guards"].items():
            lines.append(f"| {s} | {_f(val)} |")
    lines += ["", "CPU budget from these stage timings (each measured alone; run-to-run noise on this VM is ±10–15 %):",
              "", *budget_lines(res)]
    return lines


def budget_lines(res: Results) -> list[str]:
    """What the stages predict for the pipeline on this machine, next to what it measured."""
    prof = res.profile
    cores = res.machine.get("cores") or 1
    models = prof.get("model", {})
    alone = next((v for k, v in models.items() if k.endswith(ALONE)), None)
    batched = next((v for k, v in models.items() if k.endswith("per 640×480 photo")), None)
    if alone is None and batched is None:
        return []
    # indexing runs the model one photo at a time on one thread per worker when it can, else on every core at once
    model_cpu = alone if alone is not None else batched * cores
    how = (f"{alone:.1f} ms CPU on one thread" if alone is not None
           else f"{batched:.1f} ms wall × {cores} cores = {model_cpu:.1f} ms CPU")
    out = []
    for kind, label in (("vga", "640×480"), ("mp12", "12 MP")):
        st = prof.get(kind)
        if not st:
            continue
        cpu = sum(v for k, v in st.items() if k.startswith(("hash", "probe", "decode, JPEG draft", "prepare", "pixel")))
        ceiling = 1000.0 * cores / (cpu + model_cpu)
        measured = res.raw.get(kind, {}).get("rev_ips")
        out.append(
            f"- {label}: decode side {cpu:.1f} ms CPU/img (hash + probe + draft decode + both views + pixel measures) "
            f"+ model, both views of a 4:3 photo, {how} → ceiling ≈ {ceiling:.0f} img/s on {cores} cores with "
            f"perfect overlap; model alone {1000 * cores / model_cpu:.0f} img/s"
            + (f"; measured {measured:.1f} img/s ({measured / ceiling:.0%} of the ceiling)" if measured else ""))
    return out


def _f(x: float | None) -> str:
    return "—" if x is None else f"{x:.1f}" if x >= 1 else f"{x:.2f}"


def render_table_text(res: Results) -> str:
    """The table for a terminal: aligned columns, no markdown."""
    head = ("measure", "naive", "revsearch", "target", "ratio", "met?")
    body = [(r.measure, r.naive, r.revsearch, r.target, r.ratio, r.met_text) for r in (res.rows[k] for k in ROW_KEYS)]
    widths = [max(len(str(x[i])) for x in [head, *body]) for i in range(len(head))]
    fmt = "  ".join(f"{{:{w}}}" for w in widths)
    return "\n".join([fmt.format(*head), fmt.format(*("-" * w for w in widths)), *(fmt.format(*b) for b in body)])


def write_json(res: Results, path: Path) -> None:
    """Every number of the run, for scripts and tests."""
    path.write_text(json.dumps({"plan": asdict(res.plan), "rows": {k: asdict(r) for k, r in res.rows.items()},
                                "raw": res.raw, "profile": res.profile, "machine": res.machine, "inputs": res.inputs,
                                "seconds": res.seconds, "load": res.load}, indent=1, default=str))
