"""Clusters of a collection: k-means and its upkeep (`making`), reading them back (`reading`)."""

from revsearch.clusters.making import (DEFAULT_SEED, REDO, KSuggestion, assign_new, kmeans, merge_members, recluster,
                                       suggest_k)
from revsearch.clusters.reading import (Cluster, Clustering, Member, assignments, cluster, cluster_name, clustering,
                                        members, names, typical, version)

__all__ = ["Cluster", "Clustering", "DEFAULT_SEED", "KSuggestion", "Member", "REDO", "assign_new", "assignments",
           "cluster", "cluster_name", "clustering", "kmeans", "members", "merge_members", "names", "recluster",
           "suggest_k", "typical", "version"]
