"""Plugins the test servers load by path."""
