"""Knowledge-graph pairs: containers, loaders, synthetic generator, neighbourhoods."""
