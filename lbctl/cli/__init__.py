"""The command line: typer command groups (one module per group), the composition root
(:mod:`lbctl.cli.context`) and the single error boundary (:mod:`lbctl.cli.main`)."""
