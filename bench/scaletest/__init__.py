"""`make scaletest`: real processes on network namespaces (see __main__.py)."""
