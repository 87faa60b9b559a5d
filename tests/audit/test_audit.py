"""The audit log: chained records, redaction, rotation, and ``vpsmcp audit [--verify]`` catching tampering.

The last tests run a real server: every tools/call — built-in or plugin, a
result, a tool error, a refusal, a cancellation — becomes one record.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import signal
import stat
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from tests.helpers.disk_support import fill, small_disk
from tests.helpers.support import ROOT, serve_from_checkout
from tests.helpers.tool_server import start_tool_server, tools_config
from vpsmcp import cli
from vpsmcp.audit.log import GENESIS, HEAD_NAME, LOG_NAME, AuditLog, record_hash, redact
from vpsmcp.audit.verify import verify
from vpsmcp.config.sections import AuditConfig
from vpsmcp.protocol.outcomes import Answered, Outcome


def write(directory: Path, count: int, config: AuditConfig | None = None) -> AuditLog:
    audit = AuditLog.open(directory, config or AuditConfig())
    for n in range(count):
        audit.answered(Answered("tools/call", f"tool{n}", True, {"n": n}, Outcome.OK, None, None, 0.01,
                                "client-1", "token-1"))
    audit.close()
    return audit


def lines(directory: Path, name: str = LOG_NAME) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (directory / name).read_text().splitlines()]


def rewrite(directory: Path, records: list[dict[str, Any]], name: str = LOG_NAME) -> None:
    (directory / name).write_text("".join(json.dumps(r) + "\n" for r in records))


def problems(directory: Path) -> str:
    verdict = verify(directory)
    assert not verdict.ok, "tampering went unnoticed"
    return "\n".join(verdict.problems)


def test_records_are_chained_private_and_in_call_order(tmp_path: Path) -> None:
    write(tmp_path, 5)
    records = lines(tmp_path)
    assert [r["tool"] for r in records] == [f"tool{n}" for n in range(5)]
    assert [r["seq"] for r in records] == [1, 2, 3, 4, 5] and records[0]["prev"] == GENESIS
    assert all(r["prev"] == before["hash"] == record_hash(before) for before, r in itertools.pairwise(records))
    assert records[0]["client"] == "client-1" and records[0]["token"] == "token-1" and records[0]["duration_ms"] == 10.0
    assert stat.S_IMODE((tmp_path / LOG_NAME).stat().st_mode) == 0o600
    assert json.loads((tmp_path / HEAD_NAME).read_text()) == {"seq": 5, "hash": records[-1]["hash"]}
    verdict = verify(tmp_path)
    assert verdict.ok and (verdict.records, verdict.first_seq, verdict.last_seq) == (5, 1, 5)


def test_secrets_are_redacted_and_long_values_summarised() -> None:
    arguments = {"path": "/etc/app.conf", "password": "hunter2", "api_token": "t0k3n", "Authorization": "Bearer x",
                 "nested": [{"secret_key": "s"}, {"content": "y" * 5000}]}
    shown = redact(arguments)
    assert shown["path"] == "/etc/app.conf"
    assert shown["password"] == shown["api_token"] == shown["Authorization"] == "[redacted]"
    assert shown["nested"][0]["secret_key"] == "[redacted]"
    assert shown["nested"][1]["content"].startswith("[5000 characters, sha256 ")
    assert "hunter2" not in json.dumps(shown) and "yyyy" not in json.dumps(shown)


def test_an_edited_record_is_detected(tmp_path: Path) -> None:
    write(tmp_path, 4)
    records = lines(tmp_path)
    records[1]["status"] = "tool_error"
    rewrite(tmp_path, records)
    assert "line 2 (record 2): its content does not match its hash (edited)" in problems(tmp_path)


def test_an_edited_record_with_a_fresh_hash_breaks_the_chain_after_it(tmp_path: Path) -> None:
    write(tmp_path, 4)
    records = lines(tmp_path)
    records[1]["tool"] = "harmless"
    records[1]["hash"] = record_hash(records[1])
    rewrite(tmp_path, records)
    assert "line 3 (record 3): does not chain to record 2" in problems(tmp_path)


def test_the_last_record_edited_with_a_fresh_hash_differs_from_the_head(tmp_path: Path) -> None:
    write(tmp_path, 3)
    records = lines(tmp_path)
    records[-1]["tool"] = "harmless"
    records[-1]["hash"] = record_hash(records[-1])
    rewrite(tmp_path, records)
    assert "record 3 is not the record audit.head names" in problems(tmp_path)


def test_records_cut_from_the_end_are_detected(tmp_path: Path) -> None:
    write(tmp_path, 5)
    rewrite(tmp_path, lines(tmp_path)[:3])
    assert "the log ends at record 3, but record 5 was written" in problems(tmp_path)


def test_a_line_cut_in_the_middle_is_detected(tmp_path: Path) -> None:
    write(tmp_path, 3)
    data = (tmp_path / LOG_NAME).read_bytes()
    (tmp_path / LOG_NAME).write_bytes(data[: len(data) - 20])
    found = problems(tmp_path)
    assert "the last line is incomplete" in found and "not a JSON record" in found


def test_a_removed_record_is_detected(tmp_path: Path) -> None:
    write(tmp_path, 4)
    records = lines(tmp_path)
    rewrite(tmp_path, records[:1] + records[2:])
    assert "line 2 (record 3): follows record 1 (records removed or inserted)" in problems(tmp_path)


def test_a_missing_head_is_reported(tmp_path: Path) -> None:
    write(tmp_path, 2)
    (tmp_path / HEAD_NAME).unlink()
    assert "audit.head is missing" in problems(tmp_path)


def test_rotation_keeps_the_chain_across_files_and_drops_the_oldest(tmp_path: Path) -> None:
    write(tmp_path, 40, AuditConfig(max_bytes=2000, keep=3))
    names = sorted(p.name for p in tmp_path.glob(LOG_NAME + "*"))
    assert names == [LOG_NAME, LOG_NAME + ".1", LOG_NAME + ".2", LOG_NAME + ".3"]
    assert all(stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600 for name in names)
    verdict = verify(tmp_path)
    assert verdict.ok, verdict.problems
    assert verdict.last_seq == 40 and verdict.first_seq is not None and verdict.first_seq > 1  # older files dropped
    assert lines(tmp_path)[0]["prev"] == lines(tmp_path, LOG_NAME + ".1")[-1]["hash"]
    rotated = lines(tmp_path, LOG_NAME + ".2")
    rotated[0]["tool"] = "harmless"
    rewrite(tmp_path, rotated, LOG_NAME + ".2")
    assert "audit.jsonl.2 line 1" in problems(tmp_path)


def test_a_reopened_log_goes_on_with_the_chain(tmp_path: Path) -> None:
    write(tmp_path, 3)
    write(tmp_path, 2)
    assert [r["seq"] for r in lines(tmp_path)] == [1, 2, 3, 4, 5] and verify(tmp_path).ok


def test_a_torn_last_line_is_kept_as_evidence_and_the_chain_goes_on(tmp_path: Path) -> None:
    write(tmp_path, 2)
    with open(tmp_path / LOG_NAME, "ab") as out:
        out.write(b'{"seq":3,"tool":"half')
    write(tmp_path, 1)
    assert [r["seq"] for r in verify_records(tmp_path)] == [1, 2, 3]
    assert "line 3: not a JSON record" in problems(tmp_path)


def verify_records(directory: Path) -> list[dict[str, Any]]:
    from vpsmcp.audit.verify import records

    return list(records(directory))


def test_cli_shows_records_and_verify_sets_the_exit_status(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path, 3)
    assert cli.main(["audit", "--state-dir", str(tmp_path), "-n", "2"]) == 0
    shown = capsys.readouterr().out.splitlines()
    assert len(shown) == 2 and "#2  tool1  ok" in shown[0] and "client=client-1 token=token-1" in shown[0]
    assert cli.main(["audit", "--state-dir", str(tmp_path), "--json", "-n", "1"]) == 0
    assert json.loads(capsys.readouterr().out)["seq"] == 3
    assert cli.main(["audit", "--verify", "--state-dir", str(tmp_path)]) == 0
    assert "audit log ok: 3 records, #1 to #3" in capsys.readouterr().out
    records = lines(tmp_path)
    records[0]["arguments"] = {"n": 99}
    rewrite(tmp_path, records)
    assert cli.main(["audit", "--verify", "--state-dir", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert out.startswith("audit log NOT intact") and "record 1): its content does not match its hash" in out


PLUGIN = ROOT / "tests" / "plugins" / "echo_plugin.py"


def test_every_kind_of_tool_call_through_a_server_is_recorded(tmp_path: Path) -> None:
    config = f'[plugins]\nmodules = ["{PLUGIN}"]\n' + tools_config([tmp_path], exec_enabled=True)
    server = start_tool_server(tmp_path, config)
    try:
        server.call("echo", {"text": "plugin"})
        server.call("files_write", {"path": "big.txt", "content": "z" * 3000})
        server.call("files_read", {"path": "../escape"})
        server.refused("no_such_tool")

        async def cancelled() -> None:
            async with server.client("legacy") as client:  # notifications/cancelled, at once
                async with anyio.create_task_group() as group:
                    async def call() -> None:
                        server.calls.append("exec")
                        await client.call_tool("exec", {"command": ["sleep", "30"]})

                    group.start_soon(call)
                    await anyio.sleep(1.0)
                    group.cancel_scope.cancel()

        server.run(cancelled)
    finally:
        records = server.check_audit()
    by_tool = {r["tool"]: r for r in records}
    assert [(r["tool"], r["status"]) for r in records] == [
        ("echo", "ok"), ("files_write", "ok"), ("files_read", "tool_error"), ("no_such_tool", "refused"), ("exec", "cancelled")]
    assert by_tool["files_write"]["arguments"]["content"].startswith("[3000 characters, sha256")
    assert "may not contain '..'" in by_tool["files_read"]["error"]
    assert by_tool["no_such_tool"]["error"] == "Unknown tool: no_such_tool"
    assert 900 <= by_tool["exec"]["duration_ms"] < 10000
    assert all(r["client"] is None and r["token"] is None for r in records)  # --no-auth: nobody signed in


MODERN_HEADERS = {"mcp-protocol-version": "2026-07-28", "mcp-method": "tools/call", "accept": "application/json",
                  "content-type": "application/json"}


def raw_call(url: str, tool: str, arguments_json: str, http: httpx.Client | None = None) -> httpx.Response:
    """A stateless tools/call whose arguments are given as JSON text (so it can hold escapes like \\ud800)."""
    body = ('{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"' + tool + '","arguments":'
            + arguments_json + ',"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28",'
            '"io.modelcontextprotocol/clientCapabilities":{}}}}')
    return (http or httpx).post(url, content=body.encode(), headers={**MODERN_HEADERS, "mcp-name": tool}, timeout=10)


def test_a_lone_surrogate_in_the_arguments_is_recorded_escaped(tmp_path: Path) -> None:
    server = start_tool_server(tmp_path, tools_config([tmp_path]))
    try:
        answer = raw_call(server.url, "files_write", '{"path": "odd-\\ud800.txt", "content": "x\\udfff"}')
        assert answer.status_code == 200, answer.text
        server.calls.append("files_write")
    finally:
        records = server.check_audit()  # verifies the chain too
    assert records[-1]["tool"] == "files_write"
    assert records[-1]["arguments"] == {"path": "odd-\\ud800.txt", "content": "x\\udfff"}
    assert verify(tmp_path / "state").ok


def test_every_answered_call_is_in_the_log_after_a_sigkill(tmp_path: Path) -> None:
    config = f'[plugins]\nmodules = ["{PLUGIN}"]\n'
    server = start_tool_server(tmp_path, config)
    answered = []
    with httpx.Client(timeout=10) as http:
        for n in range(300):
            answer = raw_call(server.url, "echo", json.dumps({"text": f"call-{n}"}), http)
            assert answer.status_code == 200, answer.text
            answered.append(f"call-{n}")
    server.proc.stop(signal.SIGKILL)  # at once, no time to write anything more
    recorded = {r["arguments"]["text"] for r in lines(tmp_path / "state")}
    assert [text for text in answered if text not in recorded] == []
    verdict = verify(tmp_path / "state")
    assert verdict.ok, verdict.problems  # no torn line, and a lagging head is still a true one


def test_a_full_disk_withholds_the_answer_refuses_what_follows_and_loses_no_record(tmp_path: Path) -> None:
    with small_disk(tmp_path) as disk:
        config = tmp_path / "vpsmcp.toml"
        config.write_text(f'[plugins]\nmodules = ["{PLUGIN}"]\n[trace]\nmax_bytes = 100000\n')
        proc = serve_from_checkout(disk, "--no-auth", "--config", str(config)).start()
        url = proc.url + "/mcp"
        try:
            assert raw_call(url, "echo", '{"text": "before"}').status_code == 200
            filler = fill(disk)
            answered: list[str] = []  # the page the log's end is on may still hold a few records
            while len(answered) < 200:
                withheld = raw_call(url, "echo", json.dumps({"text": f"while full {len(answered)}"}))
                if "answer is withheld" in withheld.text:
                    break
                answered.append(withheld.json()["result"]["content"][0]["text"])
            assert "answer is withheld" in withheld.text and "No space left" in withheld.text, withheld.text
            refused = raw_call(url, "echo", '{"text": "refused"}')
            assert "Refused, not run" in refused.text, refused.text
            filler.unlink()
            after = raw_call(url, "echo", '{"text": "after"}')
            assert after.status_code == 200 and after.json()["result"]["content"][0]["text"] == "after", after.text
        finally:
            proc.stop()
        records = lines(disk / "state")
        assert [(r["arguments"]["text"], r["status"]) for r in records] == [
            ("before", "ok"), *((text, "ok") for text in answered), (f"while full {len(answered)}", "ok"),
            ("refused", "refused"), ("after", "ok")]
        assert verify(disk / "state").ok, verify(disk / "state").problems
        assert "Traceback" not in proc.output(), proc.output()


def test_a_server_starts_on_a_full_disk_after_a_torn_write_and_the_trace_never_tears(tmp_path: Path) -> None:
    config = tmp_path / "vpsmcp.toml"
    config.write_text(f'[plugins]\nmodules = ["{PLUGIN}"]\n')
    with small_disk(tmp_path) as disk:
        with serve_from_checkout(disk, "--no-auth", "--config", str(config)) as first:
            assert raw_call(first.url + "/mcp", "echo", '{"text": "first"}').status_code == 200
        with open(disk / "state" / LOG_NAME, "ab") as log_file:
            log_file.write(b'{"seq": 2, "torn')  # a crash mid-write
        fill(disk)
        with serve_from_checkout(disk, "--no-auth", "--config", str(config)) as server:  # starts on the full disk
            assert httpx.get(server.url + "/healthz").status_code == 200
            url = server.url + "/mcp"
            answers = [raw_call(url, "echo", json.dumps({"text": f"full {n}"})).text for n in range(50)]
            assert any("withheld" in a or "Refused, not run" in a for a in answers), answers[-1]
            (disk / "filler").unlink()
            assert raw_call(url, "echo", '{"text": "room again"}').json()["result"]["content"][0]["text"] == "room again"
        output = server.output()
        records = []
        for line in (disk / "state" / LOG_NAME).read_bytes().splitlines():
            with contextlib.suppress(ValueError):
                records.append(json.loads(line))
        texts = [r["arguments"]["text"] for r in records]
        assert texts[0] == "first" and texts[-1] == "room again"
        assert [r["seq"] for r in records] == list(range(1, len(records) + 1))  # the chain went on past the torn line
        for line in (disk / "state" / "trace.jsonl").read_bytes().splitlines():
            json.loads(line)  # whole lines only: none torn, none glued together
    assert "Traceback" not in output, output
