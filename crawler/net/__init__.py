"""The HTTP exchange under every remote call: request gates (concurrency, rate), retry policy."""
