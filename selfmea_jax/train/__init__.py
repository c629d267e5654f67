"""Training: state pytree, losses, jitted steps, pseudo-seeds, the training loop."""
