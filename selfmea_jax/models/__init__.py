"""Flax (linen) modules: graph attention, SelfKG encoder, multi-modal fusion."""
