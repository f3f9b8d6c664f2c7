"""Fine-tuning and evaluation of MiDaS small on RGB-D folders: `eval`, `train` and `dataset demo`."""
