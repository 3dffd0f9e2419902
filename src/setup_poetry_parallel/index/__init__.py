"""The package index: the project's sources in Poetry's order and their credentials, the simple
API's pages, Poetry's releases and upload times, and what a refused login means."""
