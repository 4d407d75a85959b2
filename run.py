#!/usr/bin/env python3
"""ecom's command line: `python run.py` starts the whole shop. `python run.py --help` lists the rest."""
import sys

from ecom.cli import main

if __name__ == "__main__":
    sys.exit(main())
