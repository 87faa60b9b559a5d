"""Rewrite the settings table of docs/CONFIGURATION.md from vpsmcp.config (run after adding a setting)."""

from pathlib import Path

from vpsmcp.config.sections import settings_table

doc = Path(__file__).with_name("CONFIGURATION.md")
text = doc.read_text()
intro = text[: text.index("## `[")]
doc.write_text(intro + settings_table())
