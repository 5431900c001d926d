"""Training: the loop, its step, face sets, augmentation, callbacks and checkpoints."""
