"""The label-free aligner: name views, multi-hop fusion, sparse decoding, self-training."""
