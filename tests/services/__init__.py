"""Live tests of the two reference services (issue 2)."""
