"""Per-family recipes: the code a family's notebooks share (building callbacks and trainers from a
validated parameter set, cross-validation), kept out of the notebooks so that each notebook stays a
parameters cell, calls into snnkit, plots and a results table."""
