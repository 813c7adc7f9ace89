"""The deterministic demo world (a slice of State Grid Shandong), kept out of ``data/``: ``demo.world`` generates and
bulk-loads it in memory, ``demo.xl`` chunk by chunk (XL, PostgreSQL), ``demo.run`` is the idempotent entry point and
``python -m demo`` its command line (``python -m data demo`` and ``python -m data init --demo-if-empty`` delegate to
it). ``demo`` may import ``data``, ``surveys`` and ``metrics``; nothing imports ``demo`` but tests, command lines and
the benchmark (tests/unit/test_architecture.py).
"""
