"""Route handlers of the HTTP host, one module per area."""
