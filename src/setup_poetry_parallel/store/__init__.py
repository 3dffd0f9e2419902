"""The shared install store: one Poetry venv per install key, built once, published by generation,
checked, collected; the host's shared download cache. Knows no inputs: the engine names them."""
