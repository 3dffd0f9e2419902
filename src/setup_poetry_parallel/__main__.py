from __future__ import annotations

from setup_poetry_parallel.cli import main_exit

if __name__ == "__main__":
    main_exit()
