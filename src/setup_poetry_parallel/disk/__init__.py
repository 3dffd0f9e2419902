"""Volume-safe primitives: atomic writes, locks, reads that survive a shared volume, and the checks
that decide whether a directory or file may be trusted. Standard library only where the bootstrap
and the warm lane use them (dir_checks, nofollow)."""
