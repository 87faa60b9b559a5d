"""The audit log: every tool call recorded, append-only and hash-chained, and checked.

    log.py          redaction, the hash chain, records written whole, rotation
    verify.py       walking the chain: an edited, removed or cut-off record is reported
    commands.py     ``vpsmcp audit`` (newest records, ``--verify``): ``add_commands(sub)``
"""
