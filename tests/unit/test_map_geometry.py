"""Map geometry without a UI: names placed without overlapping (revsearch.map_labels) and a refit laid over the
layout it replaces (projection.align)."""

from __future__ import annotations

import numpy as np

from revsearch import map_labels, projection
from revsearch.map_labels import overlaps, place_names

WIDTH, HEIGHT = 520.0, 574.0


def test_stacked_names_get_their_own_boxes_inside_the_plot_at_every_width():
    rng = np.random.default_rng(0)
    points = rng.normal(size=(4000, 2))
    names = [f"cluster {i} · a longer name {i}" for i in range(19)]
    anchors = [(0.01 * i, 0.01 * i) for i in range(12)] + [tuple(rng.normal(size=2)) for _ in range(7)]
    placed = place_names(names, anchors, list(range(19, 0, -1)), points, (-3, 3), (-3, 3), WIDTH, HEIGHT)
    assert sorted(g for p in placed for g in p.groups) == list(range(19))  # every name is on the map
    for stretch in map_labels.STRETCHES:  # wider plots move anchors apart; names keep their size
        boxes = [_box_at(p, stretch) for p in placed]
        assert not [(a, b) for n, a in enumerate(boxes) for b in boxes[n + 1:] if overlaps(a, b)]
        assert all(b[0] >= 0 and b[1] >= 0 and b[2] <= WIDTH * stretch and b[3] <= HEIGHT for b in boxes)
    assert any(p.leader for p in placed)  # the stacked ones moved away, joined to their centre by a line
    first = next(p for p in placed if p.groups == (0,))
    assert not first.leader  # the biggest group keeps a spot right by its centre


def _box_at(p: map_labels.Placed, stretch: float) -> map_labels.Box:
    """The box of a placed name when the plot is `stretch` times wider (its anchor moves, its size does not)."""
    ax = (p.x + 3) / 6 * WIDTH * stretch
    ay = (3 - p.y) / 6 * HEIGHT
    w, h = map_labels.text_size(p.text)
    return ax + p.dx - w / 2, ay + p.dy - h / 2, ax + p.dx + w / 2, ay + p.dy + h / 2


def test_names_avoid_covering_points_when_a_free_spot_nearby_does_not():
    dense = np.column_stack([np.linspace(-1, 1, 400), np.full(400, 0.12)])  # a line of points right above
    [p] = place_names(["shoes"], [(0.0, 0.0)], [1], dense, (-2, 2), (-2, 2), WIDTH, HEIGHT)
    assert p.dy > 0  # below its centre, not over the points above it


def test_names_with_no_room_merge_into_one_box():
    names = [f"name number {i}" for i in range(40)]
    placed = place_names(names, [(0.0, 0.0)] * 40, [1] * 40, np.zeros((0, 2)), (-1, 1), (-1, 1), 300, 140)
    boxes = [p.box for p in placed]
    assert not [(a, b) for n, a in enumerate(boxes) for b in boxes[n + 1:] if overlaps(a, b)]
    assert any(len(p.groups) > 1 and map_labels.SEPARATOR in p.text for p in placed)
    assert len({g for p in placed for g in p.groups}) < 40  # a small plot cannot hold them all: the legend does


def test_align_undoes_a_turn_a_mirror_a_scale_and_a_shift():
    rng = np.random.default_rng(1)
    old = rng.normal(size=(50, 2))
    turn = np.array([[np.cos(1.1), -np.sin(1.1)], [np.sin(1.1), np.cos(1.1)]]) @ np.diag([1.0, -1.0])
    new = old @ turn * 3.5 + np.array([10.0, -4.0])
    ids = np.arange(50)
    aligned = projection.align(ids, new, {i: tuple(old[i]) for i in range(40)})  # 10 images are new
    assert np.allclose(aligned, old, atol=1e-9)
    assert projection.align(ids, new, {0: (0.0, 0.0), 1: (1.0, 1.0)}) is new  # too few shared: left as it is
