"""sotay, in three layers (each imports only those below it; pyproject.toml's import-linter
contracts check it):

- `sotay.system`: the product's entry (the `sotay` command, the runtimes, the registry of
  services, the benchmarks), standing on
- `services`: members, identity, content and metrics, which stand on
- `sotay.contracts`: what the services agree on (event classes, field normalisers), and
- `sotay.kit`: what every service needs (settings, database, events, outbox, consumers,
  HTTP plumbing, tokens, telemetry, the service runtime), standing on libraries only.
"""
