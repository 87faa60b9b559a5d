"""The configuration: every setting declared once, read from TOML with errors naming file and key.

    settings.py     the generic part: setting(), TOML ↔ sections, the Markdown reference
    sections.py     every section and setting of vpsmcp (default, doc, check); load, dump, overrides
    locations.py    default config and state paths (XDG), from an environment passed in
    check.py        what stops serve before it binds, and the risks it logs (serve, check-config)
"""
