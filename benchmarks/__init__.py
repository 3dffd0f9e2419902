"""The benchmark against the usual way of setting up Poetry (`./dev bench`; see README.md here)."""
