"""``python -m kansci``: the same command line as the ``kansci`` console script."""
from kansci.cli import main

if __name__ == "__main__":
    main()
