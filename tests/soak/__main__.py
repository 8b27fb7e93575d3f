"""``python -m tests.soak [--minutes 20] [--seed 1] [--accounts 2] [--rate 4] [--no-chaos]``:
the long soak, run by pytest so that it gets its own test database like the bounded one.
Prints the counts (orders, faults by kind, kills by process, violations) and exits
non-zero on any violation."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.soak", description=__doc__)
    parser.add_argument("--minutes", type=float, default=20.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--accounts", type=int, default=2, help="of each market type")
    parser.add_argument("--rate", type=float, default=4.0, help="API operations per second")
    parser.add_argument("--no-chaos", action="store_true", help="no faults and no kills")
    args = parser.parse_args()
    env = {
        **os.environ,
        "SOAK_MINUTES": str(args.minutes),
        "SOAK_SEED": str(args.seed),
        "SOAK_ACCOUNTS": str(args.accounts),
        "SOAK_RATE": str(args.rate),
        "SOAK_CHAOS": "0" if args.no_chaos else "1",
    }
    test = os.path.join(os.path.dirname(__file__), "test_soak.py")
    return subprocess.call(  # noqa: S603 - our own pytest on our own test file
        [sys.executable, "-m", "pytest", test, "-s", "-q", "-p", "no:cacheprovider"], env=env
    )


if __name__ == "__main__":
    sys.exit(main())
