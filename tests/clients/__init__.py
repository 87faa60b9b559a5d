"""Real clients end to end: Claude's connector as it behaves, the conformance suites, the SDKs."""
