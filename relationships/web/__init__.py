"""Web plumbing: page cache, middleware, context processors, upload handler, error reports and template tags."""
