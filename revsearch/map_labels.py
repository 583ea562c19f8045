"""Where to write group names on the map so that they do not overlap and cover few points (plain geometry, no UI).

Each group (a cluster or a label) has an anchor: its centre in map units. A name goes just above its anchor when
that spot is free; otherwise it moves away (up to MAX_REACH px) and a leader line joins it to the anchor; when no spot
near it is free, it joins the text of the nearest name already placed ("shoes · boots"), or — when that would collide
too — it is left to the legend and the hover text. Bigger groups are placed first, so they keep the best spots; past
MAX_NAMES groups only the biggest are written on the map.

Everything is computed in screen pixels of the plot area. The plot's height is known; its width is not (the page's
width decides it), so a placement must hold at every width from `width` up to MAX_STRETCH × `width`: anchors move
apart as the plot widens while the names keep their size, and a placement is accepted only when it is free at each
of STRETCHES. Name sizes are estimated from their length (CHAR_PX per character), with room to spare.

Public API:
    place_names(names, anchors, weights, points, x_range, y_range, width, height) -> list[Placed]
    overlaps(a, b) -> bool                    two boxes (left, top, right, bottom) intersect
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

CHAR_PX = 7.6  # width per character of a 12 px sans-serif name (generous: capitals and wide letters)
PAD_PX = 10.0  # border, padding and a margin around each name box
LINE_PX = 24.0  # height of a name box
GAP_PX = 6.0  # between a name and its anchor when it sits right above (or beside) it
MAX_REACH = 200.0  # px: the farthest a name moves from its anchor
STRETCHES = (1.0, 1.3, 1.75, 2.4, 3.2)  # plot widths checked, as multiples of the width given
MAX_MERGED = 4  # names joined in one box at most
MAX_NAMES = 40  # the biggest groups' names are written on the map; the others are in the legend and the hover text
COVER_COST = 40.0  # covering the most points of any spot tried costs as much as moving the name this many px
LEADER_COST = 25.0  # a leader line costs as much as moving the name this many px
SEPARATOR = " · "
POINTS_CHECKED = 3000  # points a name avoids covering: an even sample of the map's points past this many

Box = tuple[float, float, float, float]  # left, top, right, bottom (screen px, y down)


@dataclass(frozen=True)
class Placed:
    """One name on the map: its text (possibly several groups' names), the groups it names (input indexes), its
    anchor (map units, the first group's), the offset of the box centre from the anchor in screen px (dy > 0 is
    down), whether a leader line joins them, and the box at the given width (screen px of the plot area)."""

    text: str
    groups: tuple[int, ...]
    x: float
    y: float
    dx: float
    dy: float
    leader: bool
    box: Box


def text_size(text: str) -> tuple[float, float]:
    """(width, height) in px of a name box, estimated from the text's length."""
    return len(text) * CHAR_PX + PAD_PX, LINE_PX


def overlaps(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _candidates(w: float, h: float) -> np.ndarray:
    """Offsets (dx, dy) of a box centre from its anchor, nearest first: above, below, beside, then rings around."""
    near = [(0.0, -(h / 2 + GAP_PX)), (0.0, h / 2 + GAP_PX), (w / 2 + GAP_PX, 0.0), (-(w / 2 + GAP_PX), 0.0)]
    ring = []
    for radius in (36.0, 60.0, 90.0, 125.0, 160.0, MAX_REACH):
        for angle in np.linspace(0, 2 * np.pi, 16, endpoint=False):
            ring.append((1.5 * radius * np.cos(angle), radius * np.sin(angle)))  # names are wide: reach wider
    offsets = np.array(near + ring)
    return offsets[np.argsort(np.hypot(offsets[:, 0], offsets[:, 1]), kind="stable")]


def place_names(names: Sequence[str], anchors: Sequence[tuple[float, float]], weights: Sequence[float],
                points: np.ndarray, x_range: tuple[float, float], y_range: tuple[float, float], width: float,
                height: float) -> list[Placed]:
    """Non-overlapping spots for the names of groups whose centres are `anchors` (map units), on a plot area of
    `width` (the narrowest expected) × `height` px showing `x_range` × `y_range`; `points` (n × 2, map units) are
    the map's points, which the names avoid covering. Returns the names placed (merged ones share a box)."""
    if not len(names):
        return []
    (x0, x1), (y0, y1) = x_range, y_range
    sx, sy = 1.0 / max(x1 - x0, 1e-12), height / max(y1 - y0, 1e-12)

    def to_px(xy: np.ndarray) -> np.ndarray:  # fraction of the width (x), px (y, down)
        return np.column_stack([(xy[:, 0] - x0) * sx, (y1 - xy[:, 1]) * sy])

    anchor_px = to_px(np.asarray(anchors, dtype=np.float64).reshape(-1, 2))
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    pts_px = to_px(pts[:: max(1, -(-len(pts) // POINTS_CHECKED))])
    pts_px[:, 0] *= width
    placed: list[dict] = []  # {"text", "groups", "anchor", "offset"}
    for g in sorted(range(len(names)), key=lambda i: (-weights[i], i))[:MAX_NAMES]:
        spot = _best_spot(str(names[g]), anchor_px[g], placed, pts_px, width, height)
        if spot is not None:
            placed.append({"text": str(names[g]), "groups": (g,), "anchor": anchor_px[g], "offset": spot})
            continue
        _merge(g, str(names[g]), anchor_px[g], placed, width, height)  # False: the name is left to the legend
    out = []
    for p in placed:
        w, h = text_size(p["text"])
        first = p["groups"][0]
        dx, dy = (float(v) for v in p["offset"])
        box = _boxes(p["anchor"][None, :], np.array([[dx, dy]]), w, h, width)[0]
        out.append(Placed(p["text"], p["groups"], float(anchors[first][0]), float(anchors[first][1]), dx, dy,
                          _is_leader(dx, dy, w, h), tuple(float(v) for v in box)))
    return out


def _is_leader(dx: float, dy: float, w: float, h: float) -> bool:
    """A name farther from its anchor than the four spots right around it gets a line to it."""
    return abs(dx) > w / 2 + GAP_PX + 1 or abs(dy) > h / 2 + GAP_PX + 1


def _boxes(anchor: np.ndarray, offsets: np.ndarray, w: float, h: float, width: float) -> np.ndarray:
    """Boxes (n × 4) of a name of size w × h at `offsets` from anchors given as (fraction of width, px)."""
    cx = anchor[:, 0] * width + offsets[:, 0]
    cy = anchor[:, 1] + offsets[:, 1]
    return np.column_stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])


def _free(boxes: np.ndarray, others: list[dict], stretch_width: float) -> np.ndarray:
    """Which of `boxes` (at this width) intersect no name already placed."""
    if not others:
        return np.ones(len(boxes), dtype=bool)
    sizes = np.array([text_size(p["text"]) for p in others])
    centres = np.array([p["anchor"] for p in others])
    offsets = np.array([p["offset"] for p in others])
    cx, cy = centres[:, 0] * stretch_width + offsets[:, 0], centres[:, 1] + offsets[:, 1]
    taken = np.column_stack([cx - sizes[:, 0] / 2, cy - sizes[:, 1] / 2, cx + sizes[:, 0] / 2, cy + sizes[:, 1] / 2])
    hit = ((boxes[:, None, 0] < taken[None, :, 2]) & (taken[None, :, 0] < boxes[:, None, 2])
           & (boxes[:, None, 1] < taken[None, :, 3]) & (taken[None, :, 1] < boxes[:, None, 3]))
    return ~hit.any(axis=1)


def _fits(boxes: np.ndarray, width: float, height: float) -> np.ndarray:
    return (boxes[:, 0] >= 0) & (boxes[:, 2] <= width) & (boxes[:, 1] >= 0) & (boxes[:, 3] <= height)


def _spots_ok(text: str, anchor: np.ndarray, offsets: np.ndarray, others: list[dict], width: float,
              height: float) -> np.ndarray:
    """Offsets at which the name is inside the plot and clear of `others` at every stretch of the width."""
    w, h = text_size(text)
    ok = np.ones(len(offsets), dtype=bool)
    for stretch in STRETCHES:
        boxes = _boxes(np.repeat(anchor[None, :], len(offsets), 0), offsets, w, h, width * stretch)
        ok &= _fits(boxes, width * stretch, height) & _free(boxes, others, width * stretch)
    return ok


def _best_spot(text: str, anchor: np.ndarray, placed: list[dict], pts_px: np.ndarray, width: float,
               height: float) -> np.ndarray | None:
    """The cheapest free offset for a name (distance, points covered, a leader line), or None when none is free."""
    w, h = text_size(text)
    offsets = _candidates(w, h)
    ok = _spots_ok(text, anchor, offsets, placed, width, height)
    if not ok.any():
        return None
    offsets = offsets[ok]
    boxes = _boxes(np.repeat(anchor[None, :], len(offsets), 0), offsets, w, h, width)
    covered = ((pts_px[None, :, 0] > boxes[:, None, 0]) & (pts_px[None, :, 0] < boxes[:, None, 2])
               & (pts_px[None, :, 1] > boxes[:, None, 1]) & (pts_px[None, :, 1] < boxes[:, None, 3])).sum(axis=1)
    leader = np.array([_is_leader(dx, dy, w, h) for dx, dy in offsets])
    cost = (np.hypot(offsets[:, 0], offsets[:, 1]) + COVER_COST * covered / max(1, int(covered.max()))
            + LEADER_COST * leader)
    return offsets[int(np.argmin(cost))]


def _merge(g: int, name: str, anchor: np.ndarray, placed: list[dict], width: float, height: float) -> bool:
    """Join a name that found no free spot to the nearest placed name (kept where it is, or moved to a free spot
    near its own anchor); False when no join fits either."""
    order = sorted(range(len(placed)), key=lambda n: float(np.hypot(
        (placed[n]["anchor"][0] - anchor[0]) * width, placed[n]["anchor"][1] - anchor[1])))
    for n in order[:3]:
        p = placed[n]
        if len(p["groups"]) >= MAX_MERGED:
            continue
        text = p["text"] + SEPARATOR + name
        others = placed[:n] + placed[n + 1:]
        w, h = text_size(text)
        offsets = np.vstack([np.asarray(p["offset"])[None, :], _candidates(w, h)])
        ok = _spots_ok(text, p["anchor"], offsets, others, width, height)
        if ok.any():
            placed[n] = {"text": text, "groups": (*p["groups"], g), "anchor": p["anchor"],
                         "offset": offsets[int(np.argmax(ok))]}
            return True
    return False
