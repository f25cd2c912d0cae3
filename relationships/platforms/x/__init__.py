"""X: the archive reader (there is no live connector) and the tweets-to-records classifier."""
