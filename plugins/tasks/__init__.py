"""Built-in task plugins, one module per task family, with their dataset readers."""
