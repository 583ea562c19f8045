"""Audit: a dataset you can trust — labels that are probably wrong, images with quality problems, overlap with an
outside set (issue 16).

Public API (take an open `Collection`):
    audit(coll, progress=None, measure=True) -> AuditReport     label_issues, quality_issues, classes, notes
    against(coll, target, embedder_for_folder, threshold=None, progress=None) -> list[Overlap]
                                                                 outside images that copy collection images
    measure_missing(coll, progress=None) -> Measured             pixel measures for images indexed before them
    confirm(coll, refs) -> int / unconfirm(coll, refs)           "this label is right": never reported again
    version(coll) -> str                                         moves when an audit could answer differently
    card_section(coll) -> dict | None                            the last audit's counts, for a dataset card
Label fixes are ordinary labelling actions (revsearch/labels.py), undone with `labels.undo`.

Modules: label_issues.py and quality.py judge arrays; run.py reads a collection and assembles the report
(report.py); measuring.py takes missing pixel measures; overlap.py compares with another set; actions.py confirms.
"""

from revsearch.audit.actions import confirm, unconfirm
from revsearch.audit.measuring import Measured, measure_missing
from revsearch.audit.overlap import against
from revsearch.audit.quality import ISSUES
from revsearch.audit.report import AuditReport, ClassSummary, LabelIssue, Overlap, QualityIssue
from revsearch.audit.run import audit, card_section, version

__all__ = ["AuditReport", "ClassSummary", "ISSUES", "LabelIssue", "Measured", "Overlap", "QualityIssue", "against",
           "audit", "card_section", "confirm", "measure_missing", "unconfirm", "version"]
