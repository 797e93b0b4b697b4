"""Feature groups, embeddings and the model registry, nearby, invitation suggestions, campaigns and
experiments. The only app that imports `ml`."""
