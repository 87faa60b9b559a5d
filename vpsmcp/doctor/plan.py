"""The order of the steps — the order a connector meets them — and one whole run."""

from __future__ import annotations

from vpsmcp.doctor import discovery, legacy, login, network, protocol, registration, streaming
from vpsmcp.doctor.clients import Prediction, predict
from vpsmcp.doctor.model import Check
from vpsmcp.doctor.probe import Probe
from vpsmcp.doctor.run import Options, Reporter, Run, StepSpec, run_steps
from vpsmcp.doctor.target import Target

GROUP_TITLES = {
    network.GROUP: "Network and TLS",
    discovery.GROUP: "Discovery",
    registration.GROUP: "Registration",
    login.GROUP: "Login",
    protocol.GROUP: "MCP protocol",
    streaming.GROUP: "Streaming",
    legacy.GROUP: "Other transports",
}


def steps(options: Options) -> tuple[StepSpec, ...]:
    """Every step before the session ends; ``--login`` adds the login in its place."""
    return (
        *network.STEPS,
        *discovery.STEPS,
        *registration.STEPS,
        *(login.LOGIN_STEPS if options.login else ()),
        *protocol.STEPS,
        *streaming.STEPS,
        *legacy.STEPS,
    )


def diagnose(target: Target, options: Options, reporter: Reporter) -> tuple[list[Check], list[Prediction]]:
    """Run every step against ``target``, and say how each client will fare; the doctor's session
    and tokens end with it."""
    probe = Probe(options.timeout, options.ca_file)
    run = Run(target, options, probe, reporter)
    run.facts.token = options.token
    checks = run_steps(run, steps(options))
    protocol.end_session(run)
    if options.login:
        checks += run_steps(run, login.LOGOUT_STEPS)
    return checks, predict(run, checks)
