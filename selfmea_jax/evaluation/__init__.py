"""Alignment evaluation: ranks, H@k / MRR, CSLS, Sinkhorn 1-to-1 decoding, top-k search."""
