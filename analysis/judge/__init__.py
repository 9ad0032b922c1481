"""Verdicts on the data: compare (every metric per set), coverage and tails, the collapse-risk rules
(with their rules file) and the accuracy rule a fast embedding backend must pass."""
