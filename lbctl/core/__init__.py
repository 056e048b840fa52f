"""The pure core: addresses, selectors, sharing rules, the allocator, pools, Services, the state
codec, kube-proxy configuration edits and text diffs.

Nothing here does I/O, reads a clock, sleeps or draws random numbers, and nothing imports
kubernetes, scapy, typer, rich or the adapters (import-linter enforces it).  Errors are
:mod:`lbctl.errors` classes.
"""
