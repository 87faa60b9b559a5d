"""``[upstreams.NAME]``: decoded into frozen objects, every mistake named by file and key path."""

from __future__ import annotations

import pytest

from vpsmcp.config.sections import Config, UpstreamConfig, dump_config, parse_config
from vpsmcp.errors import ConfigError

GOOD = """
[upstreams.fs]
argv = ["npx", "-y", "@modelcontextprotocol/server-filesystem", "/srv"]
env = { NODE_OPTIONS = "--max-old-space-size=256" }
deny = ["write_*"]

[upstreams.web]
url = "https://mcp.example.com/mcp"
headers = { X-Api-Key = "k" }
prefix = ""
start = "boot"
"""


def test_upstreams_decode_into_frozen_tables_in_order() -> None:
    config = parse_config(GOOD, "vpsmcp.toml")
    assert list(config.upstreams) == ["fs", "web"]
    fs, web = config.upstreams["fs"], config.upstreams["web"]
    assert fs.argv[0] == "npx" and fs.env == {"NODE_OPTIONS": "--max-old-space-size=256"} and fs.deny == ("write_*",)
    assert fs.prefix == "{name}__" and fs.start == "lazy" and fs.asks == ("sampling", "elicitation")
    assert web.headers == {"X-Api-Key": "k"} and web.prefix == "" and web.start == "boot"
    with pytest.raises(TypeError):
        config.upstreams["x"] = UpstreamConfig()  # type: ignore[index]
    with pytest.raises(TypeError):
        fs.env["X"] = "y"  # type: ignore[index]


def test_upstreams_round_trip_through_the_written_file() -> None:
    config = parse_config(GOOD, "vpsmcp.toml")
    assert parse_config(dump_config(config), "dumped") == config
    assert parse_config(dump_config(Config()), "dumped") == Config()


@pytest.mark.parametrize(
    ("text", "key", "expected"),
    [
        ("upstreams = 3", "upstreams", "expected tables [upstreams.NAME], got 3"),
        ('[upstreams."a b"]\nargv = ["x"]', 'upstreams."a b"', "expected a name of up to 64 letters"),
        ("[upstreams.a]\n", "upstreams.a.argv", "expected either argv (a stdio command) or url"),
        ('[upstreams.a]\nargv = ["x"]\nurl = "http://h/mcp"', "upstreams.a.argv", "not both"),
        ('[upstreams.a]\nurl = "ftp://h"', "upstreams.a.url", "expected an absolute http(s) URL"),
        ('[upstreams.a]\nargv = ["x"]\nbogus = 1', "upstreams.a.bogus", "unknown key (expected one of: argv, env"),
        ('[upstreams.a]\nargv = ["x"]\nenv = { A = 1 }', "upstreams.a.env", "expected a table of strings"),
        ('[upstreams.a]\nargv = ["x"]\nheaders = { A = "b" }', "upstreams.a.headers", "only for a url upstream"),
        ('[upstreams.a]\nurl = "http://h"\nheaders = { Host = "b" }', "upstreams.a.headers", "(not 'Host')"),
        ('[upstreams.a]\nurl = "http://h"\nheaders = { A = "b\\nc" }', "upstreams.a.headers", "on one line"),
        ('[upstreams.a]\nurl = "http://h"\ncwd = "/tmp"', "upstreams.a.cwd", "only for a command"),
        ('[upstreams.a]\nurl = "http://h"\ntransport = "stdio"', "upstreams.a.transport", "for a url"),
        ('[upstreams.a]\nargv = ["x"]\ntransport = "sse"', "upstreams.a.transport", "for a command"),
        ('[upstreams.a]\nargv = ["x"]\nprefix = "a b"', "upstreams.a.prefix", "letters, digits"),
        ('[upstreams.a]\nargv = ["x"]\nasks = ["mind-reading"]', "upstreams.a.asks", "sampling, elicitation, roots"),
        ('[upstreams.a]\nargv = ["x"]\nstart = "now"', "upstreams.a.start", "one of 'lazy', 'boot'"),
        ('[upstreams.a]\nargv = ["x"]\nrequest_timeout = 0', "upstreams.a.request_timeout", "greater than 0"),
        ('[upstreams.a]\nargv = [""]', "upstreams.a.argv", "non-empty strings"),
        ('[upstreams.a]\nargv = ["x"]\nenv = { "A=B" = "c" }', "upstreams.a.env", "without '='"),
        ("[upstreams]\na = 1", "upstreams.a", "expected a table [upstreams.a], got 1"),
    ],
)
def test_bad_upstream_settings_name_file_and_key(text: str, key: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "vpsmcp.toml")
    assert caught.value.source == "vpsmcp.toml"
    assert caught.value.key == key
    assert expected in caught.value.problem
