"""The writers of the generated docs blocks, in one place: the marker syntax (:mod:`.blocks`), the registry of every
block (:mod:`.registry`), the cheap and timed figures, the benchmarks page (:mod:`.report`) and the deployment table.

::

    python -m benchmarks.docs                     # rewrite every cheap block
    python -m benchmarks.docs --check             # exit 1 if a cheap block is stale
    python -m benchmarks.docs --only stem-costs   # some blocks
    python -m benchmarks.docs --list              # every block, its page, kind and command
    python -m benchmarks.docs --timed allocator   # re-measure a timed block
"""
