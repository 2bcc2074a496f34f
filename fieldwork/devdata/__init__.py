"""Development data, apart from the product: the seeded demo county (`demo`) and the
county-scale generator for benchmarks (`scale`). Only the command line, bench/ and tests
import this package."""
