"""Tests of the network adapter: pure frame and interface tests, and real frames between network
namespaces that the tests create and remove (marked ``netns``; they need root)."""
