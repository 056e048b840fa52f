"""``lbctl doctor``'s engine: facts gathered through the ports, pure checks, a report.

* :mod:`lbctl.doctor.facts` -- what is known (or :class:`~lbctl.doctor.facts.Absent`, and why);
* :mod:`lbctl.doctor.gather` -- reads the facts from a live cluster (the ``KubeAPI`` port) or
  from files, the state through the ``StateBackend`` port, probes through the ``Announcer``;
* :mod:`lbctl.doctor.checks` -- every check, by stable ID: facts in, findings out, with the
  judging left to :mod:`lbctl.core`;
* :mod:`lbctl.doctor.others` -- the traces other load-balancer implementations leave;
* :mod:`lbctl.doctor.report` -- the verdict, the ``DoctorReport`` document and JUnit XML.

This package must not print, build adapters or import the CLI: :mod:`lbctl.cli.doctor` does
that.  Errors are :mod:`lbctl.errors` classes; what a check cannot judge is a finding, never an
exception.
"""
