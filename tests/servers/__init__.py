"""Real servers on loopback for tests that need one (started once per session, stopped at its end)."""
