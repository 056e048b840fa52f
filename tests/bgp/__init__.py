"""Tests of the BGP adapter (lbctl/bgp/) that need no root: its configuration and commands."""
