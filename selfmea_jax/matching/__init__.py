"""The alignment core shared by the trainer and the aligner: search (blocked JAX, faiss
exact, HNSW / IVF with measured recall) -> one candidate graph -> scoring (cosine, CSLS,
Sinkhorn) -> assignment (greedy, Hungarian) -> confident mutual pairs -> metrics (one
pessimistic rank rule) -> one alignment writer."""
