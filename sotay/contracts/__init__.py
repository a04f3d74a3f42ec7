"""What the services agree on, and other city systems with them: the event classes of each
service (their types, subjects and payloads: `members`, `identity`, `content`, `metrics`)
and the rules for the fields more than one service reads (`fields`). A service publishes and
consumes events through these classes, never through their names spelled out. Contracts
stand on the kit only."""
