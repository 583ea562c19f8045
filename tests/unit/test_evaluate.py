"""Leave-one-out metrics checked against values worked out by hand."""

import numpy as np
import pytest

from revsearch.errors import RevsearchError
from revsearch.evaluate import retrieval_metrics


def unit(angles_deg):
    a = np.radians(angles_deg)
    return np.stack([np.cos(a), np.sin(a)], axis=1).astype(np.float32)


def test_perfectly_separated_classes():
    v = unit([0, 1, 2, 90, 91, 92])
    m = retrieval_metrics(v, ["a", "a", "a", "b", "b", "b"], ks=(1, 2))
    assert m["mAP"] == pytest.approx(1.0) and m["P@1"] == 1.0 and m["recall@2"] == 1.0


def test_average_precision_by_hand():
    # angles 0,10,20,60 labelled a,b,a,b — rankings: q0: 1b 2a 3b (AP 1/2); q1: 0a 2a 3b (AP 1/3);
    # q2: 1b 0a 3b (AP 1/2); q3: 2a 1b 0a (AP 1/2). No query has a relevant image first.
    v = unit([0, 10, 20, 60])
    m = retrieval_metrics(v, ["a", "b", "a", "b"], ks=(1,))
    assert m["mAP"] == pytest.approx((0.5 + 1 / 3 + 0.5 + 0.5) / 4)
    assert m["P@1"] == 0.0 and "N-S" not in m


def test_ns_score_when_every_class_has_four():
    v = unit([0, 1, 2, 3, 90, 91, 92, 93])
    assert retrieval_metrics(v, list("aaaabbbb"))["N-S"] == pytest.approx(4.0)
    v = unit([0, 1, 2, 50, 51, 52, 3, 53])  # one intruder per class near the other's three
    assert retrieval_metrics(v, list("aaabbbba"))["N-S"] < 4.0


def test_nothing_to_retrieve_is_an_error():
    with pytest.raises(RevsearchError):
        retrieval_metrics(unit([0, 90]), ["a", "b"])
