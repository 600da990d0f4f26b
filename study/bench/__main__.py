"""`python -m study.bench` (`make bench`): the throughput benchmark, study.bench.throughput."""

import sys

from study.bench.throughput import main

if __name__ == "__main__":
    sys.exit(main())
