"""lbctl's test suite; a package so that helpers such as ``tests.kubefake`` import by name."""
