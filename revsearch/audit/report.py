"""What an audit found, as objects the CLI prints and the app draws: label issues, quality issues, overlap with
another set, and a summary per label."""

from __future__ import annotations

from dataclasses import dataclass, field

from revsearch.audit.quality import Rules


@dataclass(frozen=True)
class LabelIssue:
    """A label that is probably wrong: `score` is the probability that it is (reported from 0.5)."""

    id: int
    path: str
    label: str
    suggested: str
    score: float
    source: str  # how the label was given: manual, import, cluster, suggestion

    def as_dict(self) -> dict:
        return {"path": self.path, "id": self.id, "label": self.label, "suggested": self.suggested,
                "score": round(self.score, 4), "source": self.source}


@dataclass(frozen=True)
class QualityIssue:
    """An image with quality problems (`issues`, names from audit.quality.ISSUES) and the measures behind them;
    `match` is the other image of a near-duplicate or the original of an exact copy."""

    id: int
    path: str
    issues: tuple[str, ...]
    measures: dict[str, float]
    match: str | None = None
    match_id: int | None = None

    def as_dict(self) -> dict:
        out = {"path": self.path, "id": self.id, "issues": list(self.issues), "measures": self.measures}
        if self.match is not None:
            out["match"] = self.match
        return out


@dataclass(frozen=True)
class Overlap:
    """An outside image that is a near-copy (or an exact copy) of a collection image."""

    path: str
    match: str
    match_id: int
    score: float
    exact: bool

    def as_dict(self) -> dict:
        return {"path": self.path, "match": self.match, "score": round(self.score, 4), "exact": self.exact}


@dataclass
class ClassSummary:
    label: str
    images: int
    sources: dict[str, int]
    label_issues: int
    quality_issues: int
    flagged: int  # images with a label issue, a quality issue or both
    typical: list[int] = field(default_factory=list)  # ids of images that show the label best

    @property
    def flagged_share(self) -> float:
        return self.flagged / self.images if self.images else 0.0

    def as_dict(self) -> dict:
        return {"label": self.label, "images": self.images, "sources": self.sources,
                "label_issues": self.label_issues, "quality_issues": self.quality_issues, "flagged": self.flagged,
                "flagged_share": round(self.flagged_share, 4), "typical": self.typical}


@dataclass
class AuditReport:
    images: int  # present indexed images
    labelled: int
    labels_checked: int  # labelled images judged (all, or a sample past audit.run.LABEL_LIMIT)
    label_issues: list[LabelIssue]
    quality_issues: list[QualityIssue]
    classes: list[ClassSummary]
    rules: Rules
    notes: list[str] = field(default_factory=list)
    measured: dict[str, int] = field(default_factory=dict)  # pixel measures taken on demand by this audit
    overlap: list[Overlap] | None = None
    seconds: float = 0.0

    def issue_counts(self) -> dict[str, int]:
        """Images per quality issue name, and label issues."""
        counts = {"label": len(self.label_issues)}
        for q in self.quality_issues:
            for name in q.issues:
                counts[name] = counts.get(name, 0) + 1
        return counts

    def as_dict(self) -> dict:
        out = {"images": self.images, "labelled": self.labelled, "labels_checked": self.labels_checked,
               "label_issues": [i.as_dict() for i in self.label_issues],
               "quality_issues": [q.as_dict() for q in self.quality_issues],
               "classes": [c.as_dict() for c in self.classes], "counts": self.issue_counts(),
               "thresholds": self.rules.as_dict(), "notes": self.notes, "measured": self.measured,
               "seconds": round(self.seconds, 3)}
        if self.overlap is not None:
            out["overlap"] = [o.as_dict() for o in self.overlap]
        return out

    def card(self) -> dict:
        """The counts a dataset card records (no paths): images, label issues, quality issues by name."""
        out = {"images": self.images, "labels_checked": self.labels_checked, "label_issues": len(self.label_issues),
               "quality_issues": len(self.quality_issues)}
        by_issue = {k: v for k, v in self.issue_counts().items() if k != "label"}
        return {**out, "by_issue": by_issue} if by_issue else out
