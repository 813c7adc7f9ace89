"""The benchmark behind `make bench`: every row of ../shared/reference/PERFORMANCE.md, median of repeats."""
