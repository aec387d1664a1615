"""split's machinery: which rows go to train/val/test (and which fold), streamed to their files;
duplicates across splits and train-vs-test shift."""
