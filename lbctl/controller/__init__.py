"""``lbctl controller``: the allocator, running continuously on the cluster.

It holds no rule of its own: it watches, queues, and calls the same use cases as ``assign``,
``release`` and ``reconcile`` (:mod:`lbctl.actions.services`), on the same state, with the same
compare-and-swap.  The parts, each testable alone with an injected clock and waiting:

* :mod:`lbctl.actions.reflector` (shared with the speaker) -- LIST then WATCH one collection,
  resume from the last ``resourceVersion``, list again on 410 Gone, back off on errors;
* :mod:`lbctl.controller.queue` -- the queue of Services to look at: keys coalesce, what arrives
  together leaves together (one state transaction per batch), failures come back after a delay;
* :mod:`lbctl.controller.reconciler` -- the cache of Services and of the state, which events
  deserve work, and one batch handed to the actions;
* :mod:`lbctl.controller.metrics` -- the Prometheus metrics;
* :mod:`lbctl.controller.run` -- the threads: two watches, the leader election, one worker.

Nothing here prints or builds an adapter; the command (:mod:`lbctl.cli.controller`) does.
"""
