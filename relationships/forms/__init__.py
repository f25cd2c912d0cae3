"""Every form of the site: accounts and uploads, connecting and nudges, and the pages' filters and settings."""
