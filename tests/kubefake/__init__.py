"""A fake kube-apiserver for lbctl's tests (standard library only).

``FakeKubeServer`` serves the slice of the Kubernetes API lbctl depends on over real HTTP on
127.0.0.1, so that the official ``kubernetes`` client and ``kubectl`` can talk to it through a
kubeconfig.  Its behaviour is pinned by the contract tests beside it.
"""

from tests.kubefake.server import FakeKubeServer, Fault, Request, RequestLog

__all__ = ["Fault", "FakeKubeServer", "Request", "RequestLog"]
