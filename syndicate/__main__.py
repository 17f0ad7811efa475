"""Allow ``python -m syndicate``."""

from syndicate.cli import main

# Guarded: worker processes re-import the main module and must not run the CLI again.
if __name__ == "__main__":
    main()
