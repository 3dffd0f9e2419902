"""Start-up, standard library only (tests/test_structure.py checks it): the engine's own dependencies
and its locked wheels, the defaults every part agrees on, and the warm lane, which replays an earlier
job's setup before anything else is imported."""
