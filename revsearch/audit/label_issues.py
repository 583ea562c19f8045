"""Which labels are probably wrong: evidence that never saw the label it judges, weighed against how the label came.

Works on arrays (like revsearch/learning/, which it reuses); revsearch/audit/report.py feeds it a collection.

Evidence for image i (a probability over the labels) is the mean of two views that ignore i's own label:
- out-of-fold probe: a class-balanced softmax probe (learning/probe.py) trained on the other folds' labels;
- neighbours: a vote of i's NEIGHBOURS nearest labelled images (cosine³ weights, as learning/graph.py). Labels that
  came from one decision do not vote for each other: members of a cluster named at once are one opinion, not forty,
  so a cluster-named image's cluster-mates with the same cluster label are left out of its vote (the "intruders agree
  with their cluster" problem of issue 16: their own cluster always outvotes them otherwise).
Both run on the vectors reduced to DIMS principal components (`reduce`: as good as the full vectors on
clothing-small, and several times cheaper). Two rounds: the second trains without the labels the first round flagged,
so planted errors stop teaching the probe their wrong label.

Then the label's source sets how much the evidence must say before a label is reported. A person's label is right
most of the time, a cluster's name is wrong for more of its members (k-means clusters are not pure), an accepted
suggestion is the model's own guess. With a prior error rate ρ for the source (PRIOR_ERROR), and p_g, p_s the
evidence for the given label and for the best other one, the score is the posterior odds turned into a probability:

    score = ρ·p_s / (ρ·p_s + (1 − ρ)·p_g)

and a label is reported when score ≥ 0.5 — when betting that it is wrong is the better bet. Accepted suggestions are
checked but never trained on or voted with (they are the model's own output); confirmed labels are never reported and
count as evidence like hand labels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits

from revsearch import neighbours
from revsearch.learning import probe
from revsearch.learning.head import balanced, stratified_sample
from revsearch.learning.validate import fold_of

PRIOR_ERROR = {"manual": 0.1, "import": 0.1, "cluster": 0.3, "suggestion": 0.2}
DEFAULT_PRIOR = 0.1
REPORT_AT = 0.5  # score from which a label is reported
FOLDS = 5
ROUNDS = 2
NEIGHBOURS = 10
SHARPNESS = 3
DIMS = 256  # principal components the evidence is computed on
PCA_SAMPLE = 5000  # rows the components are fitted on
MAX_TRAIN = 4000  # labelled rows each fold's probe trains on at most (stratified)
# L-BFGS iterations of a fold's probe, from zero and warm-started: on clothing-small 30 + 15 flag the same labels as
# 100 + 100 (to ±0.01 in precision, recall and F1 over 4 seeds and three kinds of error), at a quarter of the cost.
PROBE_ITER, WARM_ITER = 40, 15
TYPICAL = 6  # typical images kept per label


@dataclass
class LabelCheck:
    """The verdict on every row given: score (0–1, ≥ REPORT_AT = reported), best other label, the evidence."""

    scores: np.ndarray  # float32 [n]
    suggested: np.ndarray  # int64 [n], the most likely other label
    evidence: np.ndarray  # float32 [n, C], probability of each label from evidence that ignored the row's label
    flagged: np.ndarray  # int64 row indices reported, most likely wrong first
    typical: dict[int, list[int]]  # label code -> rows that show it best (trusted, most confidently that label)


def check(vectors: np.ndarray, codes: np.ndarray, n_classes: int, prior: np.ndarray, trusted: np.ndarray,
          groups: np.ndarray, confirmed: np.ndarray, seed: int = 0) -> LabelCheck:
    """Judge every labelled row.

    `vectors` [n, d] unit rows, `reduce`d (a caller reduces once for all it checks); `codes` [n] label codes
    < n_classes; `prior` [n] prior error rate of each row's label; `trusted` [n] rows whose label may train and
    vote; `groups` [n] decision group (rows of one group ≥ 0 do not vote for each other, -1 = its own decision);
    `confirmed` [n] rows never reported."""
    with threadpool_limits(limits=1, user_api="blas"):  # see `reduce`
        return _check(vectors, codes, n_classes, prior, trusted, groups, confirmed, seed)


def _check(vectors: np.ndarray, codes: np.ndarray, n_classes: int, prior: np.ndarray, trusted: np.ndarray,
           groups: np.ndarray, confirmed: np.ndarray, seed: int) -> LabelCheck:
    n = len(codes)
    z = np.ascontiguousarray(vectors, dtype=np.float32)
    near = _neighbours(z, trusted)
    folds = int(max(2, min(FOLDS, np.bincount(codes[trusted], minlength=1).max(initial=0))))
    fold = fold_of(codes, folds, seed)
    fits: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}  # fold -> (mean, W, b), warm start of round 2
    use = trusted.copy()
    flagged = np.zeros(n, dtype=bool)
    for _ in range(ROUNDS):
        evidence = _combine(_out_of_fold(z, codes, n_classes, use, fold, fits, seed),
                            _votes(near, codes, n_classes, use, groups))
        scores, suggested = posterior(evidence, codes, prior)
        flagged = (scores >= REPORT_AT) & ~confirmed
        use = trusted & (~flagged | confirmed)
    order = np.flatnonzero(flagged)
    order = order[np.argsort(-scores[order], kind="stable")]
    return LabelCheck(scores.astype(np.float32), suggested, evidence.astype(np.float32), order,
                      _typical(evidence, codes, n_classes, trusted & ~flagged))


def posterior(evidence: np.ndarray, codes: np.ndarray, prior: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(probability each label is wrong, the best other label) from the evidence and the labels' prior error rates."""
    rows = np.arange(len(codes))
    given = evidence[rows, codes]
    others = evidence.copy()
    others[rows, codes] = -1.0
    suggested = others.argmax(axis=1)
    best = np.maximum(others[rows, suggested], 0.0)
    wrong = prior * best
    return wrong / np.maximum(wrong + (1.0 - prior) * given, 1e-12), suggested


def reduce(vectors: np.ndarray, seed: int = 0, dims: int = DIMS) -> np.ndarray:
    """Unit rows projected on the top `dims` principal components (of a sample), re-normalised; unchanged when
    there are not more dimensions than that or too few rows to fit them."""
    n, d = vectors.shape
    if d <= dims or n <= dims:
        return np.ascontiguousarray(vectors, dtype=np.float32)
    rng = np.random.default_rng(seed)
    sample = vectors if n <= PCA_SAMPLE else vectors[np.sort(rng.choice(n, PCA_SAMPLE, replace=False))]
    mean = sample.mean(axis=0)
    # One BLAS thread: LAPACK's small factorisations run many times slower with two threads on a busy machine (QR of
    # 713×272: 2.4 s → 0.07 s measured), and the large products here and in `check` lose little.
    with threadpool_limits(limits=1, user_api="blas"):
        top = _components(sample - mean, dims, rng)
    out = (vectors - mean) @ top
    out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
    return np.ascontiguousarray(out, dtype=np.float32)


def _components(centred: np.ndarray, dims: int, rng: np.random.Generator) -> np.ndarray:
    """[d, dims] top principal directions by randomised subspace iteration (Halko et al. 2011): a few matrix
    products instead of an eigen-decomposition of the d×d covariance (seconds at d = 1280 on a busy CPU)."""
    basis = centred @ rng.standard_normal((centred.shape[1], dims + 16)).astype(np.float32)
    for _ in range(2):
        basis, _ = np.linalg.qr(centred @ (centred.T @ basis))
    basis, _ = np.linalg.qr(basis)
    small = basis.T @ centred  # [k, d]: the data in that subspace
    values, vectors = np.linalg.eigh(small @ small.T)  # k×k, ascending
    top = vectors[:, ::-1][:, :dims]
    directions = (top.T @ small) / np.sqrt(np.maximum(values[::-1][:dims], 1e-12))[:, None]
    return np.ascontiguousarray(directions.T, dtype=np.float32)


def _out_of_fold(z: np.ndarray, codes: np.ndarray, n_classes: int, use: np.ndarray, fold: np.ndarray,
                 fits: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]], seed: int) -> np.ndarray:
    """Probe probabilities of every row from the probe of its fold, trained on the `use` rows of the other folds
    (rows outside `use` never train, so their own fold's probe has not seen them either). `fits` carries each fold's
    probe from the previous round as the next round's starting point: a few iterations instead of a hundred."""
    out = np.full((len(codes), n_classes), 1.0 / n_classes, dtype=np.float32)  # no opinion where none can be fitted
    for f in range(int(fold.max(initial=-1)) + 1):
        train = np.flatnonzero(use & (fold != f))
        train = train[stratified_sample(codes[train], MAX_TRAIN, seed)]
        if len(np.unique(codes[train])) < 2:
            continue
        mean, *start = fits.get(f, (z[train].mean(axis=0), None, None))
        weights, bias = probe.fit(probe.features(z[train], mean), codes[train], n_classes,
                                  weights=balanced(codes[train], n_classes),
                                  init=None if start[0] is None else (start[0], start[1]),
                                  max_iter=PROBE_ITER if start[0] is None else WARM_ITER)
        fits[f] = (mean, weights, bias)
        held = np.flatnonzero(fold == f)
        out[held] = probe.softmax(probe.features(z[held], mean) @ weights + bias)
    return out


def _neighbours(z: np.ndarray, trusted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(similarities, rows) of each row's nearest trusted rows, enough of them to skip itself and its own decision
    group (one search serves every round: later rounds only leave rows out)."""
    base = np.flatnonzero(trusted)
    if len(base) < 2:
        return np.zeros((len(z), 0), dtype=np.float32), np.zeros((len(z), 0), dtype=np.int64)
    sims, found = neighbours.knn(z[base], z, 4 * NEIGHBOURS + 1)
    return sims, np.where(found >= 0, base[np.maximum(found, 0)], -1)


def _votes(near: tuple[np.ndarray, np.ndarray], codes: np.ndarray, n_classes: int, use: np.ndarray,
           groups: np.ndarray) -> np.ndarray:
    """Neighbour votes [n, C] (rows sum to 1; all zero when no neighbour may vote)."""
    sims, nbr = near
    n = len(codes)
    votes = np.zeros((n, n_classes), dtype=np.float32)
    if nbr.shape[1] == 0:
        return votes
    own = groups[:, None]
    safe = np.maximum(nbr, 0)
    allowed = (nbr >= 0) & use[safe] & (nbr != np.arange(n)[:, None]) & ((own < 0) | (groups[safe] != own))
    # the first k that may vote; fewer in small labels, where the tenth neighbour is another kind of image anyway
    k = int(np.clip(np.median(np.bincount(codes[use])[np.bincount(codes[use]) > 0]) // 2, 3, NEIGHBOURS))
    allowed &= np.cumsum(allowed, axis=1) <= k
    weight = np.where(allowed, np.maximum(sims, 0.0) ** SHARPNESS, 0.0).astype(np.float32)
    np.add.at(votes, (np.repeat(np.arange(n), nbr.shape[1]), codes[safe].ravel()), weight.ravel())
    total = votes.sum(axis=1, keepdims=True)
    return np.divide(votes, total, out=np.zeros_like(votes), where=total > 0)


def _combine(probed: np.ndarray, voted: np.ndarray) -> np.ndarray:
    """The mean of the two views; the probe alone where no neighbour could vote."""
    has_votes = voted.sum(axis=1, keepdims=True) > 0
    return np.where(has_votes, (probed + voted) / 2.0, probed)


def _typical(evidence: np.ndarray, codes: np.ndarray, n_classes: int, eligible: np.ndarray) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for c in range(n_classes):
        rows = np.flatnonzero(eligible & (codes == c))
        if len(rows):
            out[c] = rows[np.argsort(-evidence[rows, c], kind="stable")][:TYPICAL].tolist()
    return out
