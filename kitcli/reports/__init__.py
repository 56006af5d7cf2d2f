"""Templates of the kit's own reports (package data), e.g. the fleet report as one HTML file."""
