"""The names of the ways T is estimated, apart from the code that estimates (no numpy here):
the command line's choices and the trainer's settings read them without loading the
estimators."""

CROWD_METHODS = ("ds", "ds-easy")  # from several annotators' labels (Dawid-Skene)
PROBS_METHODS = ("confident", "anchor", "mixture")  # from one noisy label and probabilities
METHODS = (*CROWD_METHODS, *PROBS_METHODS, "pairs")
# what `estimate` uses on one noisy label with probabilities where no method is named
DEFAULT_WITH_PROBS = PROBS_METHODS[0]
