"""Package data: the paper's dense accuracies (``dense_accuracy.csv``) and per-method
accuracies (``pai_accuracy.csv``, Tables 8-10), both in percent as published."""
