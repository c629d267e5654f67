"""Precomputed entity features: name embeddings, relation/attribute bags, image vectors."""
