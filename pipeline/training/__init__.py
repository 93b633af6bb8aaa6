"""Training: the CNN and CNN-RNN fits, the feature cache, multi-worker and thread set-up."""
