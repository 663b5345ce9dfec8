"""Running an encoder over tasks: the runner, the encoding session, the embedding cache, batching."""
