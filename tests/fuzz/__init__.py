"""The fuzz suite: hostile values of every type at every public entry point."""
