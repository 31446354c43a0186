"""Demo data and the demo federation."""
