"""Signed webhook intake (spec pipelines.md §7): a second HTTP listener that turns a verified POST
into a `handle` job of the endpoint's plugin.

- `verify`: the signature, timestamp and replay rules (pure, `now` passed in)
- `event`: how a body is stored and what the plugin will see of it (pure)
- `config`: the `webhooks:` section, `secret_ref` resolution and its config-check problems
- `listener`: the ASGI application and the server the gateway runs
"""
