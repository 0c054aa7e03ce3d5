"""Models of this workflow."""
