"""Network and TLS: can Claude's cloud reach the server at all?

Claude's connector resolves the name, refuses private or mixed answers,
dials IPv4 on port 443 only, and needs a certificate a browser would trust
(claude.com/docs/connectors/building/troubleshooting; claude-ai-mcp#85).
"""

from __future__ import annotations

import email.utils
import queue
import socket
import ssl
import threading
import time

from vpsmcp.doctor import fixes
from vpsmcp.doctor.fixes import Fix
from vpsmcp.doctor.model import Outcome, ProbeError, failed, passed, skipped, warned
from vpsmcp.doctor.run import Run, StepSpec
from vpsmcp.doctor.target import is_internal_host

GROUP = "network"
# Warn when renewal looks overdue: certbot renews with a third of the lifetime left (30 of
# 90 days); a quarter left, or 14 days, means it has been failing — whatever the lifetime.
EXPIRY_WARNING_DAYS = 14.0
EXPIRY_WARNING_SHARE = 0.25
CLOCK_TOLERANCE = 60.0  # Date has one-second resolution; tokens and certificates tolerate far more
PUBLIC_CA = Fix("use a certificate from a public CA such as Let's Encrypt (certbot; vpsmcp install sets it up)")
HOSTNAME_MISMATCH = 62  # X509_V_ERR_HOSTNAME_MISMATCH
MISSING_ISSUER = (2, 20, 21)  # unable to get (local) issuer certificate, unable to verify the first certificate


def resolve(host: str, port: int, timeout: float) -> list[tuple[int, str]]:
    """``getaddrinfo`` with a deadline: the system resolver has none of its own."""
    answers: queue.Queue[list[tuple[int, str]] | BaseException] = queue.Queue()

    def lookup() -> None:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            answers.put(sorted({(int(family), str(address[0])) for family, _, _, _, address in infos}))
        except OSError as exc:
            answers.put(exc)

    threading.Thread(target=lookup, daemon=True, name="doctor-dns").start()
    try:
        answer = answers.get(timeout=timeout)
    except queue.Empty:
        raise ProbeError("dns", f"the name did not resolve within {timeout:g} s") from None
    if isinstance(answer, BaseException):
        raise ProbeError("dns", f"{host} does not resolve ({getattr(answer, 'strerror', None) or answer})")
    return answer


def dns(run: Run) -> Outcome:
    host = run.target.host
    try:
        answers = resolve(host, run.target.port, run.options.timeout)
    except ProbeError as exc:
        run.facts.unreachable = f"{host} does not resolve"
        return failed(str(exc), "no client can find the server", run.fix(fixes.DNS))
    v4 = [a for family, a in answers if family == socket.AF_INET]
    v6 = [a for family, a in answers if family == socket.AF_INET6]
    internal = [a for a in v4 + v6 if is_internal_host(a)]
    shown = ", ".join(v4 + v6)
    if v4:
        run.probe.pins[host] = v4[0]
    if not v4:
        return failed(f"{host} has no IPv4 address ({shown})", "Claude's connector connects over IPv4 only",
                      run.fix(fixes.DNS))
    if internal and not run.options.local:
        if host in v4 + v6:  # an address, not a name: no DNS record to publish
            return failed(f"{host} is a private or loopback address", "Claude's connector reaches only public "
                          "https names; this address is not one",
                          "check the public URL instead (https://YOUR.DOMAIN/mcp), or add --local to check a "
                          "server on this machine or network")
        return failed(f"{host} → {shown}: {', '.join(internal)} is private or loopback",
                      "Claude refuses a name with any private or loopback address, before sending a request",
                      run.fix(fixes.DNS))
    if host in v4 + v6:
        return passed(f"{host} (an address: no DNS)")
    return passed(f"{host} → {shown}")


def port(run: Run) -> Outcome:
    t = run.target
    address = run.probe.pins.get(t.host, t.host)
    start = time.monotonic()
    try:
        socket.create_connection((address, t.port), run.options.timeout).close()
    except TimeoutError:
        run.facts.unreachable = f"port {t.port} does not answer"
        return failed(f"no answer on port {t.port} within {run.options.timeout:g} s",
                      "a firewall drops the connection", run.fix(fixes.CONNECT))
    except OSError as exc:
        run.facts.unreachable = f"port {t.port} refuses connections"
        return failed(f"port {t.port}: {exc.strerror or exc}", "nothing accepts connections there", run.fix(fixes.CONNECT))
    took = f"connected in {(time.monotonic() - start) * 1000:.0f} ms"
    if t.port != 443 and t.https and not run.options.local:
        return failed(f"port {t.port} ({took}), not 443", "Claude's connector dials port 443 only", run.fix(fixes.PORT))
    return passed(f"port {t.port} {took}")


def tls(run: Run) -> Outcome:
    t = run.target
    if not t.https:
        if run.options.local:
            return skipped("http URL: no TLS (fine for a local check; Claude needs https)")
        return failed("http URL, not https", "Claude's connector connects to https URLs only", run.fix(fixes.HTTPS))
    try:
        with socket.create_connection((run.probe.pins.get(t.host, t.host), t.port), run.options.timeout) as sock, \
                run.probe.context().wrap_socket(sock, server_hostname=t.host) as tls_sock:
            cert, version = tls_sock.getpeercert() or {}, tls_sock.version()
    except ssl.SSLCertVerificationError as exc:
        run.probe.verify = False  # carry on unverified, to find what else is wrong
        return _untrusted(run, exc)
    except ssl.SSLError as exc:
        run.probe.verify = False
        return failed(f"TLS handshake failed: {exc.reason or exc}", "no client can connect", run.fix(fixes.HTTPS))
    except OSError as exc:
        raise ProbeError("connect", f"cannot connect: {exc.strerror or exc}") from None
    issued, expires = (ssl.cert_time_to_seconds(str(cert.get(k))) for k in ("notBefore", "notAfter"))
    days = (expires - time.time()) / 86400
    overdue = min(EXPIRY_WARNING_DAYS, EXPIRY_WARNING_SHARE * (expires - issued) / 86400)
    until = time.strftime("%Y-%m-%d", time.gmtime(expires))
    if days < overdue:
        return warned(f"{version}; the certificate expires on {until}, in {days:.0f} days",
                      "renewal seems to fail, and once it expires no client connects", run.fix(fixes.CERT_EXPIRY))
    return passed(f"{version}, trusted certificate for {t.host} until {until}")


def _untrusted(run: Run, exc: ssl.SSLCertVerificationError) -> Outcome:
    message = str(exc.verify_message)
    summary = f"certificate not trusted: {message}"
    if exc.verify_code == HOSTNAME_MISMATCH or "hostname" in message.lower():
        return failed(summary, f"the certificate does not name {run.target.host}", run.fix(fixes.CERT_NAME))
    if "expired" in message:
        return failed(summary, "the certificate has expired", run.fix(fixes.CERT_EXPIRY))
    if "self-signed" in message or "self signed" in message:
        return failed(summary, "clients trust only certificates from public CAs", run.fix(PUBLIC_CA))
    if exc.verify_code in MISSING_ISSUER:
        return failed(summary, "the chain does not lead to a CA clients trust: intermediate certificates are "
                      "missing, or the CA is a private one", run.fix(fixes.CERT_CHAIN))
    return failed(summary, "clients refuse the connection", run.fix(PUBLIC_CA))


def clock(run: Run) -> Outcome:
    """The server's clock, from the Date of ``GET /healthz`` — which also tells vpsmcp apart."""
    try:
        reply = run.probe.request("GET", run.target.at("/healthz"), {"Accept": "application/json"}, max_body=4096)
    except ProbeError as exc:
        return skipped(f"GET /healthz: {exc}; clock not compared")
    body = reply.json()
    if reply.status == 200 and isinstance(body, dict) and {"status", "version", "uptime_s"} <= body.keys():
        run.facts.vpsmcp = str(body["version"])
    who = f" (vpsmcp {run.facts.vpsmcp})" if run.facts.vpsmcp else ""
    date = reply.header("date")
    if not date:
        return skipped(f"no Date header to compare clocks with{who}")
    try:
        skew = email.utils.parsedate_to_datetime(date).timestamp() - time.time()
    except (TypeError, ValueError):
        return warned(f"unreadable Date header {date!r}{who}", "clients cannot compare clocks")
    if abs(skew) > CLOCK_TOLERANCE:
        return warned(f"the server's clock is {skew:+.0f} s off this machine's{who}",
                      "token lifetimes and certificate checks need clocks that agree", run.fix(fixes.CLOCK))
    return passed(f"server clock within {max(1, round(abs(skew)))} s of this machine's{who}")


STEPS = (
    StepSpec(GROUP, "DNS", dns),
    StepSpec(GROUP, "port", port),
    StepSpec(GROUP, "TLS", tls),
    StepSpec(GROUP, "clock", clock),
)
