"""Assign whole groups of images to splits so that every class lands close to the ratios: arrays in, arrays out.

The caller (revsearch/splits.py) has already joined near-copies and exact copies into groups, and says which images
already have a split (`fixed`, kept as they are: splits are stable when a collection grows). Here:

1. a group with a fixed member takes that split for all its members (the split most of its fixed members hold);
2. the other groups of two or more, largest first (ties in seeded random order), go one by one to the split where
   their classes are most behind their targets *relative to the target* (so groups spread over the splits in
   proportion to the ratios instead of all landing in the biggest split);
3. single images fill what each class still needs in each split exactly: per class, its count is apportioned by
   largest remainder, with the remainders carried from class to class so the split totals stay on the ratios too.

Targets count every image that takes part (`active`): fixed and new ones alike, so new images balance toward the ratios
given what the earlier ones hold. An inactive image (excluded from exports) is never assigned but may be fixed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

UNASSIGNED = -1


@dataclass(frozen=True)
class Assignment:
    split: np.ndarray  # int per image: split code, or UNASSIGNED (inactive images without a fixed split)
    mixed_groups: np.ndarray  # group codes whose members hold more than one split (only ever from fixed splits)


def assign(group: np.ndarray, cls: np.ndarray, fixed: np.ndarray, active: np.ndarray, ratios: np.ndarray,
           seed: int) -> Assignment:
    """Split codes for every image. `group`: group code per image (0..G-1); `cls`: class code (0..C-1, unlabelled
    images one class of their own); `fixed`: split code or UNASSIGNED; `active`: takes part in the export; `ratios`:
    one weight per split (normalised here)."""
    group, cls, fixed = (np.asarray(a, np.int64) for a in (group, cls, fixed))
    active = np.asarray(active, bool)
    ratios = np.asarray(ratios, np.float64) / float(np.sum(ratios))
    rng = np.random.default_rng(seed)
    n_splits, n_classes = len(ratios), int(cls.max()) + 1 if len(cls) else 0
    split = fixed.copy()
    _follow_fixed(group, fixed, active, split)
    todo = active & (split == UNASSIGNED)
    held = np.zeros((n_classes, n_splits))
    counted = active & (split != UNASSIGNED)
    np.add.at(held, (cls[counted], split[counted]), 1)
    target = np.bincount(cls[active], minlength=n_classes)[:, None] * ratios[None, :]
    sizes = np.bincount(group[todo], minlength=int(group.max()) + 1 if len(group) else 0)
    multi = todo & (sizes[group] > 1)
    _place_groups(group, cls, multi, split, held, target, ratios, rng)
    _fill_singles(cls, todo & ~multi, split, held, target, ratios, rng)
    return Assignment(split, _mixed(group, split))


def _follow_fixed(group: np.ndarray, fixed: np.ndarray, active: np.ndarray, split: np.ndarray) -> None:
    """Members of a group with a fixed member join the split most of its fixed members hold (lowest code on a tie)."""
    has = fixed != UNASSIGNED
    if not has.any():
        return
    pairs = np.unique(np.stack([group[has], fixed[has]], axis=1), axis=0, return_counts=True)
    best: dict[int, tuple[int, int]] = {}
    for (g, s), n in zip(pairs[0].tolist(), pairs[1].tolist()):
        if g not in best or n > best[g][0]:
            best[g] = (n, s)
    follow = active & ~has
    chosen = np.array([best.get(int(g), (0, UNASSIGNED))[1] for g in group[follow]], np.int64)
    split[follow] = chosen


def _place_groups(group: np.ndarray, cls: np.ndarray, multi: np.ndarray, split: np.ndarray, held: np.ndarray,
                  target: np.ndarray, ratios: np.ndarray, rng: np.random.Generator) -> None:
    """Greedy: each group to the split where its classes lack most, relative to their targets."""
    if not multi.any():
        return
    rows = np.flatnonzero(multi)
    codes, inverse = np.unique(group[rows], return_inverse=True)
    members = np.split(rows[np.argsort(inverse, kind="stable")], np.cumsum(np.bincount(inverse))[:-1])
    order = sorted(range(len(codes)), key=lambda k: (-len(members[k]), rng.random()))
    closed = ratios <= 0
    safe_target = np.maximum(target, 1e-9)
    for k in order:
        rows_k = members[k]
        classes, counts = np.unique(cls[rows_k], return_counts=True)
        lack = ((target[classes] - held[classes]) / safe_target[classes] * counts[:, None]).sum(axis=0)
        lack[closed] = -np.inf
        best = np.flatnonzero(lack >= lack.max() - 1e-12)
        s = int(best[0] if len(best) == 1 else rng.choice(best))
        split[rows_k] = s
        held[classes, s] += counts


def _fill_singles(cls: np.ndarray, singles: np.ndarray, split: np.ndarray, held: np.ndarray, target: np.ndarray,
                  ratios: np.ndarray, rng: np.random.Generator) -> None:
    """Per class, its single images to the splits by what each still needs (largest remainder, carried across
    classes so the totals follow the ratios as well)."""
    rows = np.flatnonzero(singles)
    if not len(rows):
        return
    carry = np.zeros(len(ratios))
    by_class = rows[np.argsort(cls[rows], kind="stable")]
    bounds = np.flatnonzero(np.diff(cls[by_class])) + 1
    for chunk in np.split(by_class, bounds):
        c = int(cls[chunk[0]])
        need = np.maximum(target[c] - held[c], 0.0)
        weights = need if need.sum() > 0 else ratios
        quota = _apportion(len(chunk), weights, carry)
        order = chunk[rng.permutation(len(chunk))]
        split[order] = np.repeat(np.arange(len(ratios)), quota)
        held[c] += quota


def _apportion(n: int, weights: np.ndarray, carry: np.ndarray) -> np.ndarray:
    """`n` items in proportion to `weights`: floors, then the leftovers to the largest remainders (plus what earlier
    calls rounded away from each part, `carry`, updated here)."""
    exact = n * weights / weights.sum()
    quota = np.floor(exact).astype(np.int64)
    left = n - int(quota.sum())
    if left:
        priority = np.where(weights > 0, exact - quota + carry, -np.inf)
        quota[np.argsort(-priority, kind="stable")[:left]] += 1
    carry += exact - quota
    return quota


def _mixed(group: np.ndarray, split: np.ndarray) -> np.ndarray:
    """Groups whose assigned members hold more than one split."""
    held = split != UNASSIGNED
    pairs = np.unique(np.stack([group[held], split[held]], axis=1), axis=0)
    codes, counts = np.unique(pairs[:, 0], return_counts=True) if len(pairs) else (np.zeros(0, np.int64), [])
    return codes[np.asarray(counts) > 1] if len(codes) else codes
