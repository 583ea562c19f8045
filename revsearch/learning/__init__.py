"""Learning from labels: a head that re-projects stored vectors, its k-fold validation, calibrated suggestions and
the choice of what to label next. Pure numpy on (ids, vectors, labels): no SQL, no collection writes."""
