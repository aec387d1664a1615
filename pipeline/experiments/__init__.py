"""DVC experiments from Python: the search space and its draws, the queue, the Optuna study,
ranking (`best`), `compare` against another revision, and the one noise rule they share."""
