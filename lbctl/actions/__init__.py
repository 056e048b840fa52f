"""Use cases: one function per thing a user asks for.  They take ports and plain values, run the
pure core inside the state store's compare-and-swap loop, and return results; they never print.
"""
