"""The demo `sotay up --demo` loads: a Hanoi-like registry (`registry`: its generator,
`load_registry`: into the members service), the pilot's rollout (`rollout`: registrations
and approvals in identity) and a few articles (`content`)."""
