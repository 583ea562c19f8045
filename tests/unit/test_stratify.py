"""Assigning groups to splits (revsearch/stratify.py) on arrays: classes land on the ratios, groups never straddle,
fixed splits are kept and new images balance around them."""

from __future__ import annotations

import numpy as np

from revsearch import stratify

RATIOS = np.array([0.8, 0.1, 0.1])


def planted(seed: int = 0, sizes: tuple[int, ...] = (40, 60, 90, 150, 300, 600)) -> tuple[np.ndarray, np.ndarray]:
    """(group, class) of uneven classes where a quarter of the images sit in groups of 2–6 (some mixing classes)."""
    rng = np.random.default_rng(seed)
    cls = np.repeat(np.arange(len(sizes)), sizes)
    rng.shuffle(cls)
    group = np.arange(len(cls))
    k = 0
    while k < len(cls) // 4:
        size = int(rng.integers(2, 7))
        group[k : k + size] = group[k]
        k += size
    _, group = np.unique(group, return_inverse=True)
    return group, cls


def deviation(split: np.ndarray, cls: np.ndarray, keep: np.ndarray | None = None) -> float:
    """Largest gap (points) between a class's share in a split and the split's ratio."""
    keep = np.ones(len(cls), bool) if keep is None else keep
    worst = 0.0
    for c in np.unique(cls[keep]):
        members = split[keep & (cls == c)]
        shares = np.bincount(members, minlength=len(RATIOS)) / len(members)
        worst = max(worst, float(np.abs(shares - RATIOS).max()) * 100)
    return worst


def straddling(group: np.ndarray, split: np.ndarray) -> int:
    pairs = np.unique(np.stack([group, split], axis=1), axis=0)
    return int((np.bincount(pairs[:, 0]) > 1).sum())


def test_every_class_lands_on_the_ratios_and_groups_stay_whole():
    group, cls = planted()
    for seed in range(3):
        result = stratify.assign(group, cls, np.full(len(cls), -1), np.ones(len(cls), bool), RATIOS, seed)
        assert (result.split >= 0).all() and straddling(group, result.split) == 0 and len(result.mixed_groups) == 0
        assert deviation(result.split, cls) < 3.0  # the smallest class has 40 images: one image is 2.5 points
        totals = np.bincount(result.split, minlength=3) / len(cls)
        assert np.abs(totals - RATIOS).max() < 0.005
        multi = np.bincount(group) > 1  # groups spread over the splits too, not all into train
        assert set(result.split[multi[group]].tolist()) == {0, 1, 2}


def test_seed_decides_and_the_same_seed_repeats():
    group, cls = planted()
    args = (group, cls, np.full(len(cls), -1), np.ones(len(cls), bool), RATIOS)
    a, b, c = (stratify.assign(*args, seed).split for seed in (1, 1, 2))
    assert (a == b).all() and not (a == c).all()


def test_fixed_splits_are_kept_new_members_join_and_the_rest_balance():
    group, cls = planted(1)
    n = len(cls)
    old = np.arange(n) < n * 2 // 3  # the collection grows by half
    first = stratify.assign(group[old], cls[old], np.full(old.sum(), -1), np.ones(old.sum(), bool), RATIOS, 0)
    fixed = np.full(n, -1)
    fixed[old] = first.split
    grown = stratify.assign(group, cls, fixed, np.ones(n, bool), RATIOS, 0)
    assert (grown.split[old] == first.split).all()
    assert straddling(group, grown.split) == 0  # a new member of an old group went to the old group's split
    assert deviation(grown.split, cls) < 3.5


def test_inactive_images_get_no_split_and_do_not_count():
    group, cls = planted(2)
    active = np.random.default_rng(0).random(len(cls)) > 0.1
    result = stratify.assign(group, cls, np.full(len(cls), -1), active, RATIOS, 0)
    assert (result.split[~active] == stratify.UNASSIGNED).all() and (result.split[active] >= 0).all()
    assert deviation(result.split, cls, active) < 3.5


def test_a_group_bridging_two_fixed_splits_is_reported():
    group = np.array([0, 0, 0, 1])
    fixed = np.array([0, 2, -1, -1])  # two earlier images in different splits, tied together by a new one
    result = stratify.assign(group, np.zeros(4, np.int64), fixed, np.ones(4, bool), RATIOS, 0)
    assert result.split[:2].tolist() == [0, 2] and result.split[2] in (0, 2)
    assert result.mixed_groups.tolist() == [0]


def test_a_closed_split_gets_nothing():
    group, cls = planted(3)
    ratios = np.array([0.7, 0.0, 0.3])
    result = stratify.assign(group, cls, np.full(len(cls), -1), np.ones(len(cls), bool), ratios, 0)
    assert not (result.split == 1).any() and straddling(group, result.split) == 0
