"""`python -m infinitygan ...` (also what `torchrun -m infinitygan ...` runs)."""

from infinitygan.cli import main

if __name__ == "__main__":
    main()
