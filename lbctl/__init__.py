"""lbctl: bare-metal Kubernetes load balancing from the command line."""

__version__ = "0.1.0"
